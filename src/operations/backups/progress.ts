// How far a long backup, restore, export or import has come, for whoever shows it (the CLI's
// progress bars). Rows are counted from the COPY text as it passes: a row ends with a newline.
export interface Progress {
  stage: 'backup' | 'restore' | 'export' | 'upload';
  done: number;
  /** A backup's is the planner's estimate of the rows (the exact count is known only at its end). */
  total: number;
  unit: 'rows' | 'bytes';
}

export type OnProgress = (progress: Progress) => void;

const NEWLINE = 0x0a;

export function countRows(chunk: Buffer): number {
  let rows = 0;
  for (let at = chunk.indexOf(NEWLINE); at >= 0; at = chunk.indexOf(NEWLINE, at + 1)) rows++;
  return rows;
}

/** `data` passed through, `onRows` told of the rows in each chunk. */
export async function* countingRows(data: AsyncIterable<Buffer>, onRows: (rows: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of data) {
    onRows(countRows(chunk));
    yield chunk;
  }
}
