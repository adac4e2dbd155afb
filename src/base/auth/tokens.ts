// Access tokens: HS256 JWTs (jose) with the algorithm, issuer and audience pinned and exp required,
// and the signing key named by `kid` in the protected header (src/control-plane/signing-keys.ts).
import { decodeProtectedHeader, jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { SiloError } from '../errors.ts';

export const roles = ['system_admin', 'company_admin', 'member'] as const;
export type Role = (typeof roles)[number];
/** The only roles a company user's token may carry, whatever a tenant database says. */
export const companyRoles = ['company_admin', 'member'] as const;
export type CompanyRole = (typeof companyRoles)[number];
export const isCompanyRole = (value: unknown): value is CompanyRole => companyRoles.includes(value as CompanyRole);

/** A system admin's token has no company; a company user's token has one (and a company role). */
const wellFormed = (claims: { role: Role; cid?: string | undefined }) =>
  claims.role === 'system_admin' ? claims.cid === undefined : isCompanyRole(claims.role) && claims.cid !== undefined;

const ISSUER = 'silo';
const AUDIENCE = 'silo-api';

const claimsSchema = z
  .object({
    sub: z.string().min(1),
    role: z.enum(roles),
    cid: z.string().uuid().optional(),
    exp: z.number(),
    // Silo always sets it; a token without one counts as issued at the epoch, so any revocation ends it.
    iat: z.number().default(0),
  })
  .refine(wellFormed);

export interface TokenClaims {
  sub: string;
  role: Role;
  cid?: string;
  /** When it was issued, in seconds with a fraction: a revocation ends the tokens issued up to its millisecond. */
  iat: number;
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
  expiresIn: number;
}

export interface TokenService {
  issue(claims: Omit<TokenClaims, 'iat'>): Promise<IssuedToken>;
  verify(token: string): Promise<TokenClaims>;
}

export interface SigningKey {
  kid: string;
  secret: Uint8Array;
}

/** The keys tokens are signed and verified with. */
export interface KeyRing {
  /** The key new tokens are signed with. */
  signing(): Promise<SigningKey>;
  /** The secret of the key `kid` names (none: the first key), or undefined when there is no such key in use. */
  verifying(kid: string | undefined): Promise<Uint8Array | undefined>;
}

/** What a kid may look like: anything else in a token's header is refused before any lookup. */
export const kidPattern = /^[A-Za-z0-9_-]{1,64}$/;

const invalidToken = () => new SiloError('unauthorized', 'invalid token');

/** The key that should have signed `token`; 401 when its header names none that is in use. */
async function keyOf(token: string, keys: KeyRing): Promise<Uint8Array> {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    throw invalidToken();
  }
  if (kid !== undefined && (typeof kid !== 'string' || !kidPattern.test(kid))) throw invalidToken();
  // Errors reading the keys (the management database) are not the token's fault: not a 401.
  const secret = await keys.verifying(kid);
  if (!secret) throw invalidToken();
  return secret;
}

export function createTokenService(keys: KeyRing, ttlSeconds: number): TokenService {
  // Verifying an HS256 signature through WebCrypto costs more than a primary-key query, so a token
  // verified once is remembered until shortly before it expires (keyed by the whole token, so a
  // token that differs in any byte is verified afresh).
  // The claims are kept frozen and handed out as they are: no new object per request.
  const verified = new LRUCache<string, { claims: Readonly<TokenClaims>; exp: number }>({ max: 50_000 });
  return {
    async issue(claims) {
      if (!wellFormed(claims)) throw new Error('refusing to issue a token whose role does not match its company');
      const key = await keys.signing();
      const nowMs = Date.now();
      const exp = Math.floor(nowMs / 1000) + ttlSeconds;
      const token = await new SignJWT({ role: claims.role, ...(claims.cid ? { cid: claims.cid } : {}) })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid })
        .setSubject(claims.sub)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(nowMs / 1000)
        .setExpirationTime(exp)
        .sign(key.secret);
      return { token, expiresAt: new Date(exp * 1000), expiresIn: ttlSeconds };
    },
    async verify(token) {
      const known = verified.get(token);
      if (known && known.exp * 1000 > Date.now()) return known.claims;
      const secret = await keyOf(token, keys);
      try {
        const { payload } = await jwtVerify(token, secret, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          requiredClaims: ['exp', 'sub'],
        });
        const claims = claimsSchema.parse(payload);
        const result: TokenClaims = Object.freeze({
          sub: claims.sub,
          role: claims.role,
          ...(claims.cid ? { cid: claims.cid } : {}),
          iat: claims.iat,
        });
        verified.set(token, { claims: result, exp: claims.exp }, { ttl: Math.max(1, claims.exp * 1000 - Date.now()) });
        return result;
      } catch (error) {
        const expired = error instanceof joseErrors.JWTExpired;
        throw new SiloError('unauthorized', expired ? 'token expired' : 'invalid token');
      }
    },
  };
}
