CREATE TABLE "company_migrations" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"company_id" uuid NOT NULL,
	"migration" text NOT NULL,
	"status" text NOT NULL,
	"duration_ms" integer,
	"error" text,
	"run_id" uuid,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "migration_error" text;--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "migrated_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "company_migrations" ADD CONSTRAINT "company_migrations_company_id_companies_id_fk" FOREIGN KEY ("company_id") REFERENCES "public"."companies"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "company_migrations_company_idx" ON "company_migrations" USING btree ("company_id","id");--> statement-breakpoint
CREATE INDEX "company_migrations_run_idx" ON "company_migrations" USING btree ("run_id");