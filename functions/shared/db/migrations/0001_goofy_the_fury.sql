CREATE TABLE "fenced_documents" (
	"name" text PRIMARY KEY NOT NULL,
	"content" jsonb NOT NULL,
	"fencing_token" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "locks" (
	"name" text PRIMARY KEY NOT NULL,
	"owner" text,
	"fencing_token" bigint NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
DROP INDEX "approvals_status";--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "approvers" jsonb DEFAULT '{"principals":[],"roles":[]}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "task_token" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "entry_key" text;--> statement-breakpoint
CREATE UNIQUE INDEX "approvals_entry_key" ON "approvals" USING btree ("entry_key");--> statement-breakpoint
CREATE INDEX "approvals_status" ON "approvals" USING btree ("status","created_at");