// The tenant schema: `npm run db:generate:tenant` (npx drizzle-kit generate) writes migrations/tenant.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/data-plane/schema.ts',
  out: './migrations/tenant',
});
