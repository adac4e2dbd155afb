// A worker thread that runs bcryptjs. bcryptjs is pure JavaScript and computes in synchronous
// slices of up to 100 ms, so on the main thread every hash or login would stall every other request.
// Plain JavaScript (not TypeScript) so that it loads the same under tsx, vitest and node.
import bcrypt from 'bcryptjs';
import { parentPort } from 'node:worker_threads';

parentPort.on('message', ({ id, op, password, hash, cost }) => {
  try {
    const result = op === 'hash' ? bcrypt.hashSync(password, cost) : bcrypt.compareSync(password, hash);
    parentPort.postMessage({ id, result });
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
