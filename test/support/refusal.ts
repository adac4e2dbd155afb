// The SiloError a synchronous call throws, for tests that check what is refused and why.
import { SiloError } from '../../src/base/errors.ts';

export function refusal(run: () => unknown): SiloError {
  try {
    run();
  } catch (error) {
    if (error instanceof SiloError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}
