import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './functions/shared/db/schema.ts',
  out: './functions/shared/db/migrations',
});
