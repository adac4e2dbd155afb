// The few Neon API calls Silo makes, on @neondatabase/api-client: check a key, create a project for
// a company, delete it. One Neon project per company, as Neon recommends for database-per-tenant
// (docs/scale-out.md): on a shared branch, creating a role drops every connection on its compute.
//
// Every Neon write is asynchronous: it answers with `operations` that run on after the response,
// and the database cannot be used until they have finished. While one runs, other writes to the
// project answer 423 Locked; past the rate limit calls answer 429. Both are waited out here.
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

/** Neon's answer, with what is safe to show: the status and Neon's message, never the request. */
export class NeonApiError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
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
  const body = error.response?.data as { message?: unknown } | undefined;
  const said = typeof body?.message === 'string' ? body.message : undefined;
  if (status === undefined) return new NeonApiError(undefined, `the Neon API cannot be reached (${error.code ?? 'no response'})`);
  return new NeonApiError(status, `the Neon API answered ${status}${said ? `: ${said}` : ''}`);
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
   * Runs a call, waiting out 429 (rate limit) and 423 (an operation is running on the project).
   * `retryServerErrors` only for calls that are safe to repeat: a 5xx on a create may have created.
   */
  private async call<T>(run: (api: Api<unknown>) => Promise<T>, options: { retryServerErrors?: boolean } = {}): Promise<T> {
    const api = await this.api;
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await run(api);
      } catch (error) {
        const status = isAxiosError(error) ? error.response?.status : undefined;
        const retry = status === 423 || status === 429 || (options.retryServerErrors === true && status !== undefined && status >= 500);
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
   */
  async deleteProjectsNamed(name: string, orgId?: string): Promise<number> {
    const { data } = await this.call((api) => api.listProjects({ search: name, limit: 400, ...(orgId ? { org_id: orgId } : {}) }), {
      retryServerErrors: true,
    });
    const named = data.projects.filter((project) => project.name === name);
    for (const project of named) await this.deleteProject(project.id);
    return named.length;
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

  /** Polls each operation until it has finished; a failed one fails the call. */
  private async waitForOperations(projectId: string, operations: Operation[]): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    for (const first of operations) {
      let operation = first;
      for (let attempt = 0; ; attempt++) {
        if (operation.status === 'finished' || operation.status === 'skipped') break;
        if (['failed', 'error', 'cancelled', 'cancelling'].includes(operation.status)) {
          throw new NeonApiError(
            undefined,
            `the Neon operation ${operation.action} ${operation.status}${operation.error ? `: ${operation.error}` : ''}`,
          );
        }
        if (Date.now() > deadline) throw new NeonApiError(undefined, `the Neon operation ${operation.action} did not finish in time`);
        await sleep(Math.min(100 * 2 ** attempt, 1_000));
        operation = (await this.call((api) => api.getProjectOperation(projectId, operation.id), { retryServerErrors: true })).data
          .operation;
      }
    }
  }
}

/** A Neon failure as the caller sees it: a refused key is the caller's to fix, the rest is 503. */
export function neonError(error: unknown): unknown {
  if (!(error instanceof NeonApiError)) return error;
  if (error.status === 401 || error.status === 403) return new SiloError('validation_failed', 'the Neon API refused the API key');
  return new SiloError('unavailable', error.message);
}
