// The typed Hono context: what middleware sets, and what handlers may read.
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { TokenClaims } from '../base/auth/tokens.ts';
import type { TenantDb } from '../data-plane/pool-map.ts';
import type { CompanyRow } from '../control-plane/schema.ts';

export interface AppEnv {
  Variables: {
    requestId: string;
    auth: TokenClaims;
    /** Set by requireCompanyUser: the caller's company and its database, as its own role. */
    tenant: { company: CompanyRow; db: TenantDb };
  };
}

export type App = OpenAPIHono<AppEnv>;

/** Who did something, for the audit trail. */
export const actorOf = (auth: TokenClaims) => `${auth.role}:${auth.sub}`;
