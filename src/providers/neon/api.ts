// The few Neon API calls Silo makes, on @neondatabase/api-client: check a key, create a project for
// a company, delete it. One Neon project per company, as Neon recommends for database-per-tenant
// (docs/scale-out.md): on a shared branch, creating a role drops every connection on its compute.
//
// Every Neon write is asynchronous: it answers with `operations` that run on after the response,
// and the database cannot be used until they have finished. While one runs, other writes to the
// project answer 423 Locked; past the rate limit calls answer 429. Both are waited out here, and so
// is 503, which Neon's spec calls always safe to retry (its GeneralError response).
import type { Api, Operation } from '@neondatabase/api-client';
import { SiloError } from '../../base/errors.ts';

export const NEON_API_URL = 'https://console.neon.tech/api/v2';

export interface NeonSettings {
  regionId?: string | undefined;
  pgVersion?: number | undefined;
  orgId?: string | undefined;
}

export interface NeonProject {
  projectId: string;
  /** As the project's role: `postgresql://role:password@host/database?sslmode=require`. */
  connectionUri: string;
  databaseName: string;
  roleName: string;
}

export interface NeonApiOptions {
  /** How long to wait out 423/429 and running operations before giving up. */
  timeoutMs?: number;
}

/** Neon's answer, with what is safe to show: the status, Neon's code and message, never the request. */
export class NeonApiError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    /** Neon's own error code (`PROJECTS_LIMIT_EXCEEDED`, ...), when it sent one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'NeonApiError';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface AxiosLikeError {
  isAxiosError: true;
  code?: string;
  response?: { status: number; data?: unknown; headers?: Record<string, unknown> };
}

/** The API client answers with axios errors (axios is its dependency, not ours). */
function isAxiosError(error: unknown): error is AxiosLikeError {
  return typeof error === 'object' && error !== null && (error as { isAxiosError?: unknown }).isAxiosError === true;
}

/**
 * Axios errors carry the request, and with it the API key in the Authorization header: keep only
 * the status and Neon's own `{ message }`.
 */
function toNeonError(error: unknown): NeonApiError | Error {
  if (!isAxiosError(error)) return error instanceof Error ? error : new Error(String(error));
  const status = error.response?.status;
  const body = error.response?.data as { message?: unknown; code?: unknown } | undefined;
  const said = typeof body?.message === 'string' ? body.message : undefined;
  const code = typeof body?.code === 'string' && body.code !== '' ? body.code : undefined;
  if (status === undefined) return new NeonApiError(undefined, `the Neon API cannot be reached (${error.code ?? 'no response'})`);
  return new NeonApiError(status, `the Neon API answered ${status}${said ? `: ${said}` : ''}`, code);
}

function retryAfterMs(error: unknown, attempt: number): number {
  const header = isAxiosError(error) ? error.response?.headers?.['retry-after'] : undefined;
  const seconds = Number(header);
  const backoff = Math.min(200 * 2 ** attempt, 5_000);
  // An absent, empty or zero Retry-After would mean retrying at once: back off instead.
  return header !== undefined && header !== '' && Number.isFinite(seconds) && seconds > 0 ? Math.max(seconds * 1000, 100) : backoff;
}

export class NeonApi {
  private readonly api: Promise<Api<unknown>>;
  private readonly timeoutMs: number;

  constructor(apiUrl: string, apiKey: string, options: NeonApiOptions = {}) {
    // Loaded on first use: the client and axios add megabytes that a Silo without Neon never needs.
    this.api = import('@neondatabase/api-client').then(({ createApiClient }) =>
      createApiClient({ apiKey, baseURL: apiUrl, timeout: 30_000 }),
    );
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  /**
   * Runs a call, waiting out 429 (rate limit), 423 (an operation is running on the project) and 503
   * (always safe to retry, the spec says). `retryServerErrors` (any 5xx) only for calls that are
   * safe to repeat: another 5xx on a create may have created.
   */
  private async call<T>(run: (api: Api<unknown>) => Promise<T>, options: { retryServerErrors?: boolean } = {}): Promise<T> {
    const api = await this.api;
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await run(api);
      } catch (error) {
        const status = isAxiosError(error) ? error.response?.status : undefined;
        const retry =
          status === 423 ||
          status === 429 ||
          status === 503 ||
          (options.retryServerErrors === true && status !== undefined && status >= 500);
        const wait = retryAfterMs(error, attempt);
        if (!retry || Date.now() + wait > deadline) throw toNeonError(error);
        await sleep(wait);
      }
    }
  }

  /**
   * Answers when the key is accepted; throws NeonApiError otherwise. A probe (`once`) makes one
   * call: it must not spend the rate limit that provisioning needs.
   */
  async checkKey(orgId?: string, options: { once?: boolean } = {}): Promise<void> {
    const list = (api: Api<unknown>) => api.listProjects({ limit: 1, ...(orgId ? { org_id: orgId } : {}) });
    if (options.once) {
      await list(await this.api).catch((error: unknown) => {
        throw toNeonError(error);
      });
      return;
    }
    await this.call(list, { retryServerErrors: true });
  }

  /** The organisations the key may act in: all of a personal key's, the one that owns any other key. */
  async organizations(): Promise<{ id: string; name: string; plan: string }[]> {
    const { data } = await this.call((api) => api.getCurrentUserOrganizations(), { retryServerErrors: true });
    return data.organizations.map(({ id, name, plan }) => ({ id, name, plan }));
  }

  /** The region ids open to the organisation ("not all regions are available to all organizations"). */
  async regions(orgId: string): Promise<string[]> {
    const { data } = await this.call((api) => api.getActiveRegions({ org_id: orgId }), { retryServerErrors: true });
    return data.regions.map((region) => region.region_id);
  }

  /**
   * Creates a project whose default branch holds `names.database`, owned by `names.role`.
   * `onCreated` hears the project id as soon as Neon answers, before its operations finish, so that
   * a failure while waiting can still delete it.
   */
  async createProject(
    name: string,
    names: { database: string; role: string },
    settings: NeonSettings,
    onCreated: (projectId: string) => Promise<void>,
  ): Promise<NeonProject> {
    const { data } = await this.call((api) =>
      api.createProject({
        project: {
          name,
          branch: { database_name: names.database, role_name: names.role },
          ...(settings.regionId ? { region_id: settings.regionId } : {}),
          ...(settings.pgVersion ? { pg_version: settings.pgVersion } : {}),
          ...(settings.orgId ? { org_id: settings.orgId } : {}),
        },
      }),
    );
    await onCreated(data.project.id);
    const details = data.connection_uris[0];
    if (!details) throw new NeonApiError(undefined, 'the Neon API created a project without a connection URI');
    await this.waitForOperations(data.project.id, data.operations);
    return {
      projectId: data.project.id,
      connectionUri: details.connection_uri,
      databaseName: details.connection_parameters.database,
      roleName: details.connection_parameters.role,
    };
  }

  /**
   * Deletes the projects with exactly this name: for a create whose answer was lost (a timeout, a
   * reset, a process that died before recording the id), when only the name Silo gave is known.
   * Neon answers a search that runs past its `timeout` with the projects found so far and the ids
   * of the rest in `unavailable_project_ids`; such a partial answer is asked again (the project
   * may be among the rest), and is an error if it stays partial. Deleted projects stay recoverable
   * for 7 days but are not listed (only `recoverable=true` lists them), so they never count here.
   */
  async deleteProjectsNamed(name: string, orgId?: string): Promise<number> {
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const { data } = await this.call(
        (api) => api.listProjects({ search: name, limit: 400, timeout: SEARCH_TIMEOUT_MS, ...(orgId ? { org_id: orgId } : {}) }),
        { retryServerErrors: true },
      );
      if ((data.unavailable_project_ids ?? []).length > 0) {
        const wait = Math.min(200 * 2 ** attempt, 5_000);
        if (Date.now() + wait > deadline) throw new NeonApiError(undefined, 'the Neon API answered only part of a project search in time');
        await sleep(wait);
        continue;
      }
      const named = data.projects.filter((project) => project.name === name);
      for (const project of named) await this.deleteProject(project.id);
      return named.length;
    }
  }

  /** Deletes a project; one that is already gone counts as deleted. */
  async deleteProject(projectId: string): Promise<void> {
    try {
      await this.call((api) => api.deleteProject(projectId), { retryServerErrors: true });
    } catch (error) {
      if (error instanceof NeonApiError && error.status === 404) return;
      throw error;
    }
  }

  /**
   * Polls each operation until it has finished (or was skipped). Only `error` and `cancelled` are
   * final failures: Neon retries a `failed` operation (its `failures_count` grows, `retry_at` says
   * when), and `cancelling` has not ended yet, so those are polled on until the deadline.
   */
  private async waitForOperations(projectId: string, operations: Operation[]): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    for (const first of operations) {
      let operation = first;
      for (let attempt = 0; ; attempt++) {
        if (operation.status === 'finished' || operation.status === 'skipped') break;
        const failures = `after ${operation.failures_count} failure${operation.failures_count === 1 ? '' : 's'}`;
        if (operation.status === 'error' || operation.status === 'cancelled') {
          throw new NeonApiError(
            undefined,
            `the Neon operation ${operation.action} ${operation.status} ${failures}${operation.error ? `: ${operation.error}` : ''}`,
          );
        }
        if (Date.now() > deadline) {
          throw new NeonApiError(
            undefined,
            `the Neon operation ${operation.action} did not finish in time (${operation.status} ${failures})`,
          );
        }
        await sleep(Math.min(100 * 2 ** attempt, 1_000));
        operation = (await this.call((api) => api.getProjectOperation(projectId, operation.id), { retryServerErrors: true })).data
          .operation;
      }
    }
  }
}

/** Neon's search `timeout` (ms, 100 to 30,000): past it, a partial answer rather than none. */
const SEARCH_TIMEOUT_MS = 10_000;

/**
 * A Neon failure as the caller sees it. At registration every refusal (4xx) is the caller's to fix:
 * 400. Later, a refusal means the server's key or settings no longer fit what Neon allows: 409. A
 * Neon that cannot be reached, or is still busy or rate-limited when Silo stops waiting, is 503.
 */
export function neonError(error: unknown, options: { registering?: boolean } = {}): unknown {
  if (!(error instanceof NeonApiError)) return error;
  const refused = error.status !== undefined && error.status >= 400 && error.status < 500 && ![408, 423, 429].includes(error.status);
  if (!refused) return new SiloError('unavailable', error.message);
  if (error.status === 401 || error.status === 403) {
    return options.registering
      ? new SiloError('validation_failed', 'the Neon API refused the API key')
      : new SiloError(
          'conflict',
          `the Neon API refused this server's API key (${error.status}): revoked, or scoped to one project? give the server an organization key (silo servers update --api-key-env)`,
        );
  }
  return new SiloError(options.registering ? 'validation_failed' : 'conflict', error.message);
}

/** Projects a Neon plan allows (neon.com/docs/introduction/plans); unknown plans get the smallest. */
export function planProjectLimit(plan: string): number {
  return /^scale/i.test(plan) ? 1_000 : 100;
}
