CREATE TABLE "activity_results" (
	"key" text PRIMARY KEY NOT NULL,
	"execution_id" text NOT NULL,
	"result" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "approvals" (
	"id" text PRIMARY KEY NOT NULL,
	"execution_id" text NOT NULL,
	"state_name" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"prompt" jsonb NOT NULL,
	"decision" jsonb,
	"decided_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"decided_at" timestamp with time zone,
	CONSTRAINT "approvals_status_valid" CHECK ("status" IN ('pending', 'approved', 'rejected', 'expired'))
);
--> statement-breakpoint
CREATE TABLE "budget_reservations" (
	"key" text PRIMARY KEY NOT NULL,
	"execution_id" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"status" text DEFAULT 'reserved' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "budget_reservations_amount_non_negative" CHECK ("budget_reservations"."amount_micros" >= 0),
	CONSTRAINT "budget_reservations_status_valid" CHECK ("status" IN ('reserved', 'settled', 'released'))
);
--> statement-breakpoint
CREATE TABLE "cache_entries" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "cost_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"execution_id" text NOT NULL,
	"step_id" bigint,
	"state_name" text,
	"kind" text NOT NULL,
	"provider" text,
	"model" text,
	"tokens_in" integer DEFAULT 0 NOT NULL,
	"tokens_out" integer DEFAULT 0 NOT NULL,
	"tokens_cached" integer DEFAULT 0 NOT NULL,
	"usd_micros" bigint NOT NULL,
	"saved_micros" bigint DEFAULT 0 NOT NULL,
	"idempotency_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cost_entries_kind_valid" CHECK ("kind" IN ('llm', 'sandbox', 'lambda', 'transition')),
	CONSTRAINT "cost_entries_usd_non_negative" CHECK ("cost_entries"."usd_micros" >= 0 AND "cost_entries"."saved_micros" >= 0)
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" text DEFAULT gen_random_uuid()::text NOT NULL,
	"execution_id" text NOT NULL,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "executions" (
	"id" text PRIMARY KEY NOT NULL,
	"workflow" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"input" jsonb NOT NULL,
	"output" jsonb,
	"error" jsonb,
	"budget_micros" bigint,
	"reserved_micros" bigint DEFAULT 0 NOT NULL,
	"cost_micros" bigint DEFAULT 0 NOT NULL,
	"saved_micros" bigint DEFAULT 0 NOT NULL,
	"idempotency_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "executions_status_valid" CHECK ("status" IN ('pending', 'running', 'waiting_approval', 'succeeded', 'failed', 'cancelled', 'timed_out', 'budget_exceeded')),
	CONSTRAINT "executions_budget_non_negative" CHECK ("executions"."budget_micros" IS NULL OR "executions"."budget_micros" >= 0),
	CONSTRAINT "executions_reserved_non_negative" CHECK ("executions"."reserved_micros" >= 0)
);
--> statement-breakpoint
CREATE TABLE "steps" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"execution_id" text NOT NULL,
	"state_name" text NOT NULL,
	"activity" text NOT NULL,
	"entered_at" timestamp(3) with time zone NOT NULL,
	"item" text DEFAULT '' NOT NULL,
	"attempt" integer NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"duration_ms" integer,
	"error" jsonb,
	"cost_micros" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "steps_status_valid" CHECK ("status" IN ('running', 'succeeded', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "activity_results" ADD CONSTRAINT "activity_results_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "approvals" ADD CONSTRAINT "approvals_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD CONSTRAINT "budget_reservations_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cost_entries" ADD CONSTRAINT "cost_entries_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cost_entries" ADD CONSTRAINT "cost_entries_step_id_steps_id_fk" FOREIGN KEY ("step_id") REFERENCES "public"."steps"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "steps" ADD CONSTRAINT "steps_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "approvals_execution" ON "approvals" USING btree ("execution_id");--> statement-breakpoint
CREATE INDEX "approvals_status" ON "approvals" USING btree ("status");--> statement-breakpoint
CREATE INDEX "budget_reservations_execution" ON "budget_reservations" USING btree ("execution_id");--> statement-breakpoint
CREATE INDEX "cache_entries_expires_at" ON "cache_entries" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "cost_entries_execution" ON "cost_entries" USING btree ("execution_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "cost_entries_idempotency_key" ON "cost_entries" USING btree ("idempotency_key");--> statement-breakpoint
CREATE INDEX "events_execution" ON "events" USING btree ("execution_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "events_event_id" ON "events" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "events_unpublished" ON "events" USING btree ("id") WHERE "events"."published_at" IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "executions_workflow_idempotency_key" ON "executions" USING btree ("workflow","idempotency_key");--> statement-breakpoint
CREATE INDEX "executions_created_at" ON "executions" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "executions_status" ON "executions" USING btree ("status");--> statement-breakpoint
CREATE UNIQUE INDEX "steps_entry_item_attempt" ON "steps" USING btree ("execution_id","state_name","entered_at","item","attempt");--> statement-breakpoint
CREATE INDEX "steps_execution" ON "steps" USING btree ("execution_id","id");