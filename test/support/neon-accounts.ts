// The Neon API stand-in's account model (test/support/neon-stand-in.ts): organisations with a plan,
// a project limit and the regions open to them; the three kinds of API key; and Neon's rate limits.
//
// Where Neon documents each (the spec is public-v2-for-users.gen.yaml in @neondatabase/api-client;
// the rest is Neon's docs as known when this was written, not checked against an account):
//   - Keys (neon.com/docs/manage/api-keys): a personal key acts for its user in every organisation
//     the user belongs to, so project calls must name one: the spec's `GET /projects` and
//     `POST /projects` say "If using a personal API key, include the `org_id` parameter"; Neon
//     answers 400 "org_id is required, you can find it on your organization settings page"
//     without it. An organisation key implies its organisation. A project-scoped key reaches one
//     project and may not create or delete projects (403).
//   - `GET /users/me/organizations`: "When called with an organization- or project-scoped API key
//     ..., this returns the single organization that owns the key" (the spec). Organization.plan
//     is a free string there; the values used here (free, launch, scale) are Neon's plan names.
//   - Project limits (neon.com/docs/introduction/plans): Free and Launch 100 projects, Scale
//     1,000. The spec only says "Plan limits define how many projects you can create" (createProject);
//     past the limit Neon answers 422 with code PROJECTS_LIMIT_EXCEEDED (reported by Neon users;
//     whether soft-deleted projects count is not documented: here they do not).
//   - Regions: `GET /regions` "Not all regions are available to all organizations. Pass the
//     `org_id` parameter to get an accurate list" (the spec). A region the organisation may not
//     use is refused here with 400 (Neon's exact answer is not documented).
//   - Rate limits (neon.com/docs/reference/api-reference, "API rate limiting"): 700 requests per
//     minute per account, with bursts of up to 40 requests per second per route; past them 429,
//     and the docs ask for retries with exponential backoff; they promise no Retry-After header.
import { randomBytes } from 'node:crypto';

export const REGIONS = [
  'aws-us-east-1',
  'aws-us-east-2',
  'aws-us-west-2',
  'aws-eu-central-1',
  'aws-eu-west-2',
  'aws-ap-southeast-1',
  'aws-ap-southeast-2',
  'aws-sa-east-1',
  'azure-eastus2',
  'azure-westus3',
  'azure-gwc',
] as const;
export const DEFAULT_REGION = 'aws-us-east-2';

export type Plan = 'free' | 'launch' | 'scale';
export const PLAN_PROJECT_LIMITS: Record<Plan, number> = { free: 100, launch: 100, scale: 1000 };

export interface StandInOrganization {
  id: string;
  name: string;
  plan: Plan;
  /** Regions this organisation may create projects in (default: all). */
  regions?: readonly string[];
  /** Overrides the plan's limit (a test cannot make 100 projects quickly). */
  projectLimit?: number;
}

export type Principal =
  | { kind: 'organization'; orgId: string }
  | { kind: 'personal'; orgIds: string[] }
  | { kind: 'project'; orgId: string; projectId: string };

export const ORG_ID_REQUIRED = 'org_id is required, you can find it on your organization settings page';

/** API keys and what each may reach. */
export class Keys {
  private readonly byKey = new Map<string, Principal>();

  add(principal: Principal, key = `napi_${randomBytes(24).toString('base64url')}`): string {
    this.byKey.set(key, principal);
    return key;
  }

  find(key: string): Principal | undefined {
    return this.byKey.get(key);
  }

  /** Every key, for redacting error texts. */
  all(): string[] {
    return [...this.byKey.keys()];
  }
}

/**
 * The organisation a project call acts in: the key's own, or (a personal key) the `org_id` given.
 * A pair is the refusal: [status, message].
 */
export function organizationFor(principal: Principal, orgId: string | undefined): string | [400 | 403, string] {
  if (principal.kind === 'personal') {
    if (!orgId) return [400, ORG_ID_REQUIRED];
    return principal.orgIds.includes(orgId) ? orgId : [403, 'you are not a member of this organization'];
  }
  if (orgId && orgId !== principal.orgId) return [403, 'the API key does not belong to this organization'];
  return principal.orgId;
}

export function projectLimit(org: StandInOrganization): number {
  return org.projectLimit ?? PLAN_PROJECT_LIMITS[org.plan];
}

/** Fixed windows: per key per minute, and per key and route per second. */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(private readonly limits: { perMinute: number; perSecondPerRoute: number }) {}

  allow(key: string, route: string): boolean {
    const now = Date.now();
    const minute = this.take(`m:${key}`, 60_000, now);
    const second = this.take(`s:${key}:${route}`, 1_000, now);
    return minute <= this.limits.perMinute && second <= this.limits.perSecondPerRoute;
  }

  private take(name: string, length: number, now: number): number {
    let window = this.windows.get(name);
    if (!window || now - window.start >= length) {
      window = { start: now, count: 0 };
      this.windows.set(name, window);
    }
    window.count += 1;
    return window.count;
  }
}

/** A route's name for the per-route limit: ids replaced by placeholders. */
export function routeOf(method: string, path: string): string {
  return `${method} ${path.replace(/\/(projects|operations)\/[^/]+/g, '/$1/:id')}`;
}
