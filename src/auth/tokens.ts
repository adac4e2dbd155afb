// Access tokens: HS256 JWTs (jose) with the algorithm, issuer and audience pinned and exp required.
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { SiloError } from '../errors.ts';

export const roles = ['system_admin', 'company_admin', 'member'] as const;
export type Role = (typeof roles)[number];

const ISSUER = 'silo';
const AUDIENCE = 'silo-api';

const claimsSchema = z.object({
  sub: z.string().min(1),
  role: z.enum(roles),
  cid: z.string().uuid().optional(),
  exp: z.number(),
});

export interface TokenClaims {
  sub: string;
  role: Role;
  cid?: string;
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
  expiresIn: number;
}

export interface TokenService {
  issue(claims: TokenClaims): Promise<IssuedToken>;
  verify(token: string): Promise<TokenClaims>;
}

export function createTokenService(secret: Uint8Array, ttlSeconds: number): TokenService {
  if (secret.length < 32) throw new Error('the token secret must be at least 32 bytes');
  // Verifying an HS256 signature through WebCrypto costs more than a primary-key query, so a token
  // verified once is remembered until shortly before it expires (keyed by the whole token, so a
  // token that differs in any byte is verified afresh).
  // The claims are kept frozen and handed out as they are: no new object per request.
  const verified = new LRUCache<string, { claims: Readonly<TokenClaims>; exp: number }>({ max: 50_000 });
  return {
    async issue(claims) {
      const now = Math.floor(Date.now() / 1000);
      const exp = now + ttlSeconds;
      const token = await new SignJWT({ role: claims.role, ...(claims.cid ? { cid: claims.cid } : {}) })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(claims.sub)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .sign(secret);
      return { token, expiresAt: new Date(exp * 1000), expiresIn: ttlSeconds };
    },
    async verify(token) {
      const known = verified.get(token);
      if (known && known.exp * 1000 > Date.now()) return known.claims;
      try {
        const { payload } = await jwtVerify(token, secret, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          requiredClaims: ['exp', 'sub'],
        });
        const claims = claimsSchema.parse(payload);
        const result: TokenClaims = Object.freeze({ sub: claims.sub, role: claims.role, ...(claims.cid ? { cid: claims.cid } : {}) });
        verified.set(token, { claims: result, exp: claims.exp }, { ttl: Math.max(1, claims.exp * 1000 - Date.now()) });
        return result;
      } catch (error) {
        const expired = error instanceof joseErrors.JWTExpired;
        throw new SiloError('unauthorized', expired ? 'token expired' : 'invalid token');
      }
    },
  };
}
