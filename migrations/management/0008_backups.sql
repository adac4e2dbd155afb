CREATE TABLE "company_backups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"company_id" uuid NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"origin" text DEFAULT 'manual' NOT NULL,
	"actor" text NOT NULL,
	"storage_key" text NOT NULL,
	"size_bytes" bigint,
	"schema_version" text,
	"tables" jsonb,
	"error" text,
	"started_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "backup_schedule" jsonb;--> statement-breakpoint
ALTER TABLE "company_backups" ADD CONSTRAINT "company_backups_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "company_backups_company_idx" ON "company_backups" USING btree ("company_id","started_at");