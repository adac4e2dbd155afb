// The shared reference database: `npm run db:generate:shared` writes migrations/shared.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/control-plane/shared-schema.ts',
  out: './migrations/shared',
});
