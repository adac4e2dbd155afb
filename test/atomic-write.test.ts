// Writing a file whole or not at all (src/base/atomic-write.ts) on a real folder: the bytes land
// under the final name only once complete; a source that fails leaves nothing; and a write that
// cannot even open its temporary file lets its source go (a backup's snapshot ends its connection
// when its archive is let go).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, expect, it } from 'vitest';
import { writeFileAtomically } from '../src/base/atomic-write.ts';

const dir = mkdtempSync(join(tmpdir(), 'silo-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('writes the bytes under the final name, and no temporary file is left', async () => {
  const bytes = await writeFileAtomically(join(dir, 'a'), join(dir, '.a.tmp'), Readable.from([Buffer.from('one '), Buffer.from('two')]));
  expect(bytes).toBe(7);
  expect(readFileSync(join(dir, 'a'), 'utf8')).toBe('one two');
  expect(existsSync(join(dir, '.a.tmp'))).toBe(false);
});

it('leaves nothing when the source fails midway', async () => {
  const failing = (async function* () {
    yield Buffer.from('half');
    throw new Error('connection lost');
  })();
  await expect(writeFileAtomically(join(dir, 'b'), join(dir, '.b.tmp'), failing)).rejects.toThrow('connection lost');
  expect(readdirSync(dir).filter((name) => name.includes('b'))).toEqual([]);
});

it('lets its source go when the temporary file cannot be opened', async () => {
  // A file where the folder should be: the open fails (ENOTDIR), even with makeFolder.
  writeFileSync(join(dir, 'not-a-folder'), '');
  const source = new Readable({ read() {} });
  await expect(
    writeFileAtomically(join(dir, 'not-a-folder', 'c'), join(dir, 'not-a-folder', '.c.tmp'), source, { makeFolder: true }),
  ).rejects.toMatchObject({ code: 'ENOTDIR' });
  expect(source.destroyed).toBe(true);
});
