ALTER TABLE "database_servers" ALTER COLUMN "url_encrypted" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "provider" text DEFAULT 'postgres' NOT NULL;--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "database_url_encrypted" text;--> statement-breakpoint
ALTER TABLE "companies" ADD COLUMN "provider_ref" text;--> statement-breakpoint
ALTER TABLE "database_servers" ADD COLUMN "api_key_encrypted" text;--> statement-breakpoint
ALTER TABLE "database_servers" ADD COLUMN "settings" jsonb DEFAULT '{}'::jsonb NOT NULL;