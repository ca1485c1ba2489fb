CREATE TABLE "engine_journal" (
	"execution_id" text NOT NULL,
	"key" text NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "engine_journal_execution_id_key_pk" PRIMARY KEY("execution_id","key")
);
--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "owner" text;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "lease_expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "executions" ADD COLUMN "redrive_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "engine_journal" ADD CONSTRAINT "engine_journal_execution_id_executions_id_fk" FOREIGN KEY ("execution_id") REFERENCES "public"."executions"("id") ON DELETE cascade ON UPDATE no action;