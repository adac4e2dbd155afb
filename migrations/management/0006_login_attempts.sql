CREATE UNLOGGED TABLE "login_attempts" (
	"key" text PRIMARY KEY NOT NULL,
	"attempts" integer NOT NULL,
	"window_ends" timestamp (3) with time zone NOT NULL
);
