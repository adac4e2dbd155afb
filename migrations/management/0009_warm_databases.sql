CREATE TABLE "warm_databases" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"server_id" uuid NOT NULL,
	"name" text NOT NULL,
	"status" text DEFAULT 'cloning' NOT NULL,
	"template_version" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "warm_databases_name_unique" UNIQUE("name")
);
--> statement-breakpoint
ALTER TABLE "warm_databases" ADD CONSTRAINT "warm_databases_server_id_database_servers_id_fk" FOREIGN KEY ("server_id") REFERENCES "public"."database_servers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "warm_databases_ready_idx" ON "warm_databases" USING btree ("server_id","template_version","created_at") WHERE "warm_databases"."status" = 'ready';