CREATE TABLE "engine_journal" (
	"execution_id" text NOT NULL,
	"key" text NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "engine_journal_execution_id_key_pk" PRIMARY KEY("execution_id","key")
);
--> statement-breakpoint
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
ALTER TABLE "budget_reservations" ADD COLUMN "kind" text DEFAULT 'llm' NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "step_id" bigint;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "state_name" text;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "provider" text;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "model" text;--> statement-breakpoint
ALTER TABLE "cost_entries" ADD COLUMN "confirmed" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "overrun_micros" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "owner" text;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "redrive_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "engine_journal" ADD CONSTRAINT "engine_journal_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "approvals_entry_key" ON "approvals" USING btree ("entry_key");--> statement-breakpoint
CREATE INDEX "approvals_status" ON "approvals" USING btree ("status","created_at");--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD CONSTRAINT "budget_reservations_kind_valid" CHECK ("kind" IN ('llm', 'sandbox', 'lambda', 'transition'));