CREATE TABLE "token_revocations" (
	"subject" text PRIMARY KEY NOT NULL,
	"revoked_at" timestamp (3) with time zone NOT NULL
);
