// The console's typed context: what its session middleware sets for the pages.
import type { Hono } from 'hono';
import type { TokenClaims } from '../../base/auth/tokens.ts';

export interface ConsoleEnv {
  Variables: {
    requestId: string;
    /** The system admin's verified token claims. */
    auth: TokenClaims;
    /** Shown in the page header. */
    adminEmail: string;
  };
}

export type Web = Hono<ConsoleEnv>;

/** Who did something, for the audit trail (as the API's routes write it). */
export const consoleActor = (auth: TokenClaims) => `${auth.role}:${auth.sub}`;
