DROP INDEX "steps_entry_attempt";--> statement-breakpoint
ALTER TABLE "steps" ADD COLUMN "item" text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "steps_entry_item_attempt" ON "steps" USING btree ("execution_id","state_name","entered_at","item","attempt");