// How commands print: padded text tables for people, one JSON document for programs (--json).
// Reports go to stdout; notes about them (more pages, what to do next) go to stderr.

/** Where output goes: process.stdout and process.stderr, or a collector in the tests. */
export interface Writer {
  write(chunk: string): unknown;
}

export type Cell = string | number | boolean | null | undefined;

export function printJson(out: Writer, value: unknown): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(out: Writer, line: string): void {
  out.write(`${line}\n`);
}

/** One line per cell: whitespace (a multi-line error) folds to spaces; null and undefined print as "-". */
function cellText(cell: Cell): string {
  if (cell === null || cell === undefined || cell === '') return '-';
  return String(cell).replace(/\s+/g, ' ');
}

/** Columns padded to their widest cell, two spaces apart; the last one is not padded. */
export function printTable(out: Writer, headers: string[], rows: Cell[][]): void {
  const lines = [headers, ...rows.map((row) => row.map(cellText))];
  const widths = headers.map((_, column) => Math.max(...lines.map((line) => line[column]?.length ?? 0)));
  for (const line of lines) {
    const padded = line.map((text, column) => (column === line.length - 1 ? text : text.padEnd(widths[column]!)));
    out.write(`${padded.join('  ')}\n`);
  }
}

/** "2025-01-31T12:34:56.789Z" -> "2025-01-31 12:34" (UTC), short enough for a table. */
export function shortTime(iso: string | null): string | null {
  return iso && `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}
