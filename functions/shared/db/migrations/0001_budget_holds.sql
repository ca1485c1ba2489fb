ALTER TABLE "budget_reservations" ADD COLUMN "kind" text DEFAULT 'llm' NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "step_id" bigint;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "state_name" text;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "provider" text;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD COLUMN "model" text;--> statement-breakpoint
ALTER TABLE "cost_entries" ADD COLUMN "confirmed" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "overrun_micros" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD CONSTRAINT "budget_reservations_kind_valid" CHECK ("kind" IN ('llm', 'sandbox', 'lambda', 'transition'));