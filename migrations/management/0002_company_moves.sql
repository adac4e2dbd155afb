CREATE TABLE "database_leftovers" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"company_id" uuid NOT NULL,
	"server_id" uuid NOT NULL,
	"database_name" text NOT NULL,
	"role_name" text NOT NULL,
	"reason" text NOT NULL,
	"last_error" text,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"removed_at" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "moving_to" uuid;--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "move_lease_until" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "writes_held_until" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "database_leftovers" ADD CONSTRAINT "database_leftovers_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "database_leftovers" ADD CONSTRAINT "database_leftovers_server_id_database_servers_id_fk" FOREIGN KEY ("server_id") REFERENCES "public"."database_servers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "database_leftovers_present_idx" ON "database_leftovers" USING btree ("company_id","server_id") WHERE "database_leftovers"."removed_at" is null;--> statement-breakpoint
ALTER TABLE "companies" ADD CONSTRAINT "companies_moving_to_database_servers_id_fk" FOREIGN KEY ("moving_to") REFERENCES "public"."database_servers"("id") ON DELETE no action ON UPDATE no action;