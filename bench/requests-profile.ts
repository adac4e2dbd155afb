// The breakdown of a server's CPU per request by component (bench/cpu-breakdown.ts says how samples
// are charged), side by side for several profiles, from the files `npm run bench:requests --
// --profile DIR` leaves: DIR/<server>.cpuprofile and DIR/<server>.requests (requests answered
// while profiled).
//
//   npm run bench:requests-profile -- DIR                       silo-info, silo-warn and bare
//   npm run bench:requests-profile -- DIR/silo-info OTHER/silo-info ...   any profiles, e.g. before / after
//   ... -- --requests 12345 some.cpuprofile                     a profile of `node --cpu-prof`, with its request count
//   ... -- --top 30 DIR/silo-warn                               also the 30 functions with the most self time
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { breakdown, type Breakdown, OTHER, RULES } from './cpu-breakdown.ts';
import { formatTable } from './support.ts';

const us = (value: number | undefined) => (value === undefined || value < 0.05 ? '-' : value.toFixed(1));

/** Prints one table: a row per component, own and incl µs per request for each profile. */
export function printBreakdownTable(profiles: { label: string; result: Breakdown }[]): void {
  const names = [...RULES.map((r) => r.name), OTHER];
  const rows = names
    .filter((name) => profiles.some((p) => (p.result.incl.get(name) ?? 0) >= 0.05))
    .map((name) => [name, ...profiles.flatMap((p) => [us(p.result.own.get(name)), us(p.result.incl.get(name))])]);
  rows.push(['total sampled on the main thread', ...profiles.flatMap((p) => [us(p.result.total), ''])]);
  rows.push(['process CPU, all threads, same time', ...profiles.flatMap((p) => [us(p.result.processCpu), ''])]);
  rows.push(['requests answered while profiled', ...profiles.flatMap((p) => [String(p.result.requests), ''])]);
  console.log(formatTable(['µs of CPU per request', ...profiles.flatMap((p) => [`${p.label} own`, `${p.label} incl`])], rows));
  for (const { label, result } of profiles) {
    if (result.otherFrames.length === 0) continue;
    const frames = result.otherFrames.map(([frame, micros]) => `${frame} ${us(micros)}`).join('; ');
    console.log(`${label}, heaviest frames charged to "${OTHER}" (µs/request): ${frames}`);
  }
}

/**
 * A profile as bench:requests names it (<path>.cpuprofile beside <path>.requests: the requests
 * answered and the CPU used while profiled), or any .cpuprofile with `requests` given (unscaled).
 */
function load(base: string, requests?: number): Breakdown {
  const profile = base.endsWith('.cpuprofile') ? base : `${base}.cpuprofile`;
  if (requests !== undefined) return breakdown(profile, requests);
  const measured = JSON.parse(readFileSync(`${profile.replace(/\.cpuprofile$/, '')}.requests`, 'utf8')) as {
    requests: number;
    cpuMicros: number;
  };
  if (!(measured.requests > 0)) throw new Error(`${profile}: no request answered while profiled`);
  return breakdown(profile, measured.requests, measured.cpuMicros);
}

/** The table for bench:requests' servers profiled into `dir`. */
export function printBreakdowns(dir: string, servers: readonly string[]): void {
  const present = servers.filter((name) => existsSync(join(dir, `${name}.cpuprofile`)));
  console.log(`CPU per request by component, from the profiles in ${dir} (bench/cpu-breakdown.ts says how samples are charged):`);
  printBreakdownTable(present.map((name) => ({ label: name, result: load(join(dir, name)) })));
  console.log('');
}

function main(): void {
  const args = process.argv.slice(2);
  const numberAfter = (flag: string) => {
    const at = args.indexOf(flag);
    if (at < 0) return undefined;
    const [value] = args.splice(at, 2).slice(1);
    return Number(value);
  };
  const requests = numberAfter('--requests');
  const top = numberAfter('--top');
  const paths = args;
  if (paths.length === 0) throw new Error('usage: npm run bench:requests-profile -- DIR | PROFILE... [--requests N]');
  if (paths.length === 1 && existsSync(paths[0]!) && statSync(paths[0]!).isDirectory()) {
    printBreakdowns(paths[0]!, ['silo-info', 'silo-warn', 'bare', 'silo-d']);
    return;
  }
  // Labels: the file's name, and its folder's when two files share a name (before/after runs).
  const label = (path: string) => {
    const name = basename(path).replace(/\.cpuprofile$/, '');
    const sameName = paths.filter((p) => basename(p).replace(/\.cpuprofile$/, '') === name).length > 1;
    return sameName ? `${basename(join(path, '..'))}/${name}` : name;
  };
  const profiles = paths.map((path) => ({ label: label(path), result: load(path, requests) }));
  printBreakdownTable(profiles);
  for (const { label, result } of top ? profiles : []) {
    console.log(`\n${label}: the ${top} functions with the most self time, µs per request [the component charged]`);
    for (const [frame, micros] of result.selfFrames.slice(0, top)) console.log(`${us(micros).padStart(7)}  ${frame}`);
  }
}

if (process.argv[1] && basename(process.argv[1]) === 'requests-profile.ts') main();
