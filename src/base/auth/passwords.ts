// Password hashing for system admins and company users: bcryptjs (pure JavaScript, no native
// build), run on worker threads so that a login or a sign-up never blocks the event loop, and so
// that provisioning's hash runs on another core while Postgres creates the database.
import bcrypt from 'bcryptjs';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SiloError } from '../errors.ts';
import { passwordProblem } from './password-rule.ts';

const COST = 10;

type Job = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };
type Reply = { id: number; result?: string | boolean; error?: string };

class BcryptWorkers {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void }>();
  private readonly busy = new Map<Worker, number>();
  private nextId = 0;

  /** One worker per spare core, at least one and at most four; started on first use. */
  private worker(): Worker {
    const size = Math.max(1, Math.min(4, availableParallelism() - 1));
    if (this.workers.length < size) {
      const worker = new Worker(new URL('./bcrypt-worker.mjs', import.meta.url));
      worker.on('message', (reply: Reply) => {
        const left = (this.busy.get(worker) ?? 1) - 1;
        this.busy.set(worker, left);
        if (left === 0) worker.unref();
        const pending = this.waiting.get(reply.id);
        this.waiting.delete(reply.id);
        if (reply.error !== undefined) pending?.reject(new Error(`bcrypt: ${reply.error}`));
        else pending?.resolve(reply.result as never);
      });
      worker.on('error', (error) => {
        // A crashed worker fails what it held; the next job starts a new one.
        this.workers.splice(this.workers.indexOf(worker), 1);
        for (const [id, pending] of this.waiting) {
          this.waiting.delete(id);
          pending.reject(error);
        }
      });
      // An idle worker must not keep a CLI, a test or a bench process alive, a busy one must (its
      // answer is awaited): ref'd while it has jobs (run()), unref'd once they are answered. After
      // the listeners, as adding a 'message' listener refs the worker's port again.
      worker.unref();
      this.workers.push(worker);
      this.busy.set(worker, 0);
      return worker;
    }
    return this.workers.reduce((a, b) => ((this.busy.get(a) ?? 0) <= (this.busy.get(b) ?? 0) ? a : b));
  }

  run<T extends string | boolean>(job: Job): Promise<T> {
    const id = this.nextId++;
    const worker = this.worker();
    this.busy.set(worker, (this.busy.get(worker) ?? 0) + 1);
    worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: never) => void, reject });
      worker.postMessage({ id, ...job });
    });
  }
}

const workers = new BcryptWorkers();

/** Hashes a password that keeps the password rule; every stored password passes here, so it is enforced here too. */
export const hashPassword = async (password: string) => {
  const problem = passwordProblem(password);
  if (problem) throw new SiloError('validation_failed', `the password ${problem}`);
  return workers.run<string>({ op: 'hash', password, cost: COST });
};
export const verifyPassword = (password: string, hash: string) => workers.run<boolean>({ op: 'compare', password, hash });

/** A random password for generated credentials (tenant roles, temporary admin passwords). */
export const generatePassword = (bytes = 18) => randomBytes(bytes).toString('base64url');

// A real hash to compare against when the user does not exist, so that an unknown email costs the
// same time as a wrong password.
const dummyHash = bcrypt.hashSync(generatePassword(), COST);
export const burnPasswordCheck = (password: string) => verifyPassword(password, dummyHash).then(() => false);
