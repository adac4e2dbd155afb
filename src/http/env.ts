// The typed Hono context: what middleware sets, and what handlers may read.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { TokenClaims } from '../auth/tokens.ts';

export interface AppEnv {
  Variables: {
    requestId: string;
    auth: TokenClaims;
  };
}

export type App = OpenAPIHono<AppEnv>;

/** Who did something, for the audit trail. */
export const actorOf = (auth: TokenClaims) => `${auth.role}:${auth.sub}`;
