CREATE TABLE "relay_cursor" (
	"name" text PRIMARY KEY NOT NULL,
	"last_id" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Hand-written: the Kafka relay resumes after the last event every earlier row of which was published.
INSERT INTO "relay_cursor" ("name", "last_id") SELECT 'kafka', COALESCE((SELECT min("id") - 1 FROM "events" WHERE "published_at" IS NULL), (SELECT max("id") FROM "events"), 0);--> statement-breakpoint
-- Hand-written: the transaction id is taken before the sequence value, so whoever holds an id that is not visible
-- yet is a transaction that a snapshot sees running (see functions/shared/events/frontier.ts). CASE evaluates its
-- condition first; pg_current_xact_id() is never null.
ALTER TABLE "events" ALTER COLUMN "id" SET DEFAULT CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('events_id_seq'::regclass) END;--> statement-breakpoint
DROP INDEX "events_unpublished";--> statement-breakpoint
ALTER TABLE "events" DROP COLUMN "published_at";
