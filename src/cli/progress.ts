// Progress bars for the long commands (backup, restore, export, import): drawn on stderr, and only
// when stdout is a terminal and no --json was asked for, so that a pipe, a file or a program gets
// the report alone. One bar per stage (a backup, then its export; an upload, then its restore).
import { SingleBar } from 'cli-progress';
import type { OnProgress, Progress } from '../operations/backups/progress.ts';
import type { Writer } from './output.ts';
import type { CliRuntime } from './runtime.ts';

export interface ProgressBars {
  update: OnProgress;
  /** Ends the bar on screen (its last state stays); call it whatever happened. */
  stop(): void;
}

const NONE: ProgressBars = { update: () => {}, stop: () => {} };

/** Bytes show as kB: whole numbers, and a bar that moves for small archives too. */
const shown = (progress: Progress, value: number) => (progress.unit === 'bytes' ? Math.round(value / 1000) : value);

export function progressBars(cli: CliRuntime, options: { json?: boolean }): ProgressBars {
  if (options.json || (cli.stdout as Writer & { isTTY?: boolean }).isTTY !== true) return NONE;
  const bar = new SingleBar({
    stream: cli.stderr as unknown as NodeJS.WritableStream,
    format: '{stage} [{bar}] {percentage}% | {value}/{total} {unit}',
    hideCursor: true,
    gracefulExit: false,
  });
  let stage: string | undefined;
  return {
    update(progress) {
      const total = shown(progress, Math.max(progress.total, progress.done));
      const payload = { stage: progress.stage.padEnd(7), unit: progress.unit === 'bytes' ? 'kB' : 'rows' };
      if (progress.stage !== stage) {
        if (stage) bar.stop();
        stage = progress.stage;
        bar.start(total, shown(progress, progress.done), payload);
        return;
      }
      bar.setTotal(total);
      bar.update(shown(progress, progress.done), payload);
    },
    stop() {
      if (stage) bar.stop();
      stage = undefined;
    },
  };
}

/** `source` passed through, its bytes counted into `stage`'s bar. */
export async function* countingBytes(
  source: AsyncIterable<Buffer>,
  progress: ProgressBars,
  stage: 'export' | 'upload',
  total: number,
): AsyncGenerator<Buffer> {
  let done = 0;
  for await (const chunk of source) {
    done += chunk.length;
    progress.update({ stage, done, total, unit: 'bytes' });
    yield chunk;
  }
}
