CREATE TYPE "public"."reservation_status" AS ENUM('reserved', 'settled', 'released');--> statement-breakpoint
CREATE TABLE "activity_results" (
	"key" text PRIMARY KEY NOT NULL,
	"execution_id" text NOT NULL,
	"result" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "budget_reservations" (
	"key" text PRIMARY KEY NOT NULL,
	"execution_id" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"status" "reservation_status" DEFAULT 'reserved' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "budget_reservations_amount_non_negative" CHECK ("budget_reservations"."amount_micros" >= 0)
);
--> statement-breakpoint
CREATE TABLE "cache_entries" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "activity_results" ADD CONSTRAINT "activity_results_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "budget_reservations" ADD CONSTRAINT "budget_reservations_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "budget_reservations_execution" ON "budget_reservations" USING btree ("execution_id");--> statement-breakpoint
CREATE INDEX "cache_entries_expires_at" ON "cache_entries" USING btree ("expires_at");