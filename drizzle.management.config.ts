// The control plane: `npm run db:generate:management` writes migrations/management.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/control-plane/schema.ts',
  out: './migrations/management',
});
