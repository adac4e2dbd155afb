// A fleet query's results as one table: every company's rows under one header, `company` first,
// then each column name in the order first seen; values flattened to what a cell or a CSV field
// holds. The CLI's table and --csv and the console's CSV download all come from here, so they agree.
import { stringify } from 'csv-stringify/sync';
import type { FleetLine } from './fleet-query.ts';

export type FleetSuccess = Extract<FleetLine, { ok: true }>;
export type FlatCell = string | number | boolean | null;

/** A value as one table cell or CSV field: JSON for objects and arrays, ISO for dates. */
export function flatCell(value: unknown): FlatCell {
  if (value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return value as FlatCell;
}

/** Every company's rows under one header; a column a company lacks is null in its rows. */
export function mergeFleetRows(results: FleetSuccess[]): { headers: string[]; rows: FlatCell[][] } {
  const names: string[] = [];
  for (const result of results) for (const column of result.columns) if (!names.includes(column.name)) names.push(column.name);
  const rows = results.flatMap((result) => {
    const at = names.map((name) => result.columns.findIndex((c) => c.name === name));
    return result.rows.map((row) => [result.company.slug, ...at.map((i) => (i === -1 ? null : flatCell(row[i])))]);
  });
  return { headers: ['company', ...names], rows };
}

/** The merged rows as CSV: a header line, then a line per row, fields quoted where they need it. */
export function fleetCsv(results: FleetSuccess[]): string {
  const { headers, rows } = mergeFleetRows(results);
  return stringify([headers, ...rows]);
}
