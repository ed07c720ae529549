/**
 * Reading inputs safely (regular files only, bounded size) and staging
 * outputs (nothing at the target until commit; errors name the target).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkReadableFile, FileReadError, FileWriteError, readFileChecked, stageFile, writeAll, writeErrorOf } from '../src/node.js';

const dir = mkdtempSync(join(tmpdir(), 'tarflow-file-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function problem(path: string, maxBytes?: number): Promise<FileReadError> {
  try {
    await readFileChecked(path, { maxBytes });
  } catch (e) {
    expect(e).toBeInstanceOf(FileReadError);
    return e as FileReadError;
  }
  throw new Error(`reading ${path} succeeded`);
}

describe('readFileChecked', () => {
  it('reads a regular file whole', async () => {
    const p = join(dir, 'a.bin');
    writeFileSync(p, new Uint8Array([1, 2, 3]));
    expect([...(await readFileChecked(p))]).toEqual([1, 2, 3]);
    writeFileSync(join(dir, 'empty.bin'), '');
    expect((await readFileChecked(join(dir, 'empty.bin'))).length).toBe(0);
  });

  it('refuses missing files, directories, devices and FIFOs without blocking', async () => {
    expect((await problem(join(dir, 'nope'))).message).toBe(`${join(dir, 'nope')}: no such file`);
    expect((await problem(dir)).problem).toBe('directory');
    expect((await problem('/dev/zero')).message).toBe('/dev/zero: is a device, not a regular file');
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    expect((await problem(fifo)).message).toBe(`${fifo}: is a pipe (FIFO), not a regular file`);
  });

  it('checks a file for streaming readers without reading it', async () => {
    const p = join(dir, 'c.bin');
    writeFileSync(p, new Uint8Array(5));
    expect(await checkReadableFile(p)).toBe(5);
    await expect(checkReadableFile('/dev/zero')).rejects.toThrow('/dev/zero: is a device, not a regular file');
    await expect(checkReadableFile(p, { maxBytes: 4 })).rejects.toThrow(FileReadError);
  });

  it('refuses files past the size limit before reading them', async () => {
    const p = join(dir, 'big.bin');
    writeFileSync(p, new Uint8Array(2048));
    const e = await problem(p, 1024);
    expect(e.problem).toBe('too-large');
    expect(e.message).toBe(`${p}: is 2048 bytes, more than the 1024 bytes allowed`);
  });
});

describe('stageFile', () => {
  it('writes nothing at the target until commit, and discard leaves no file', async () => {
    const target = join(dir, 'out.bin');
    const staged = await stageFile(target, (fh) => writeAll(fh, new Uint8Array([7])));
    expect(existsSync(target)).toBe(false);
    await staged.commit();
    expect([...readFileSync(target)]).toEqual([7]);
    const other = await stageFile(join(dir, 'other.bin'), (fh) => writeAll(fh, new Uint8Array([8])));
    await other.discard();
    expect(readdirSync(dir).filter((f) => f.includes('other'))).toEqual([]);
  });

  // Root writes anywhere, so the refusal needs an ordinary user.
  it.skipIf(process.getuid?.() === 0)('names the target, not the temporary file, when the folder cannot be written', async () => {
    const ro = join(dir, 'read-only');
    mkdirSync(ro);
    chmodSync(ro, 0o500);
    const target = join(ro, 'x.bin');
    await expect(stageFile(target, (fh) => writeAll(fh, new Uint8Array([1])))).rejects.toThrow(new FileWriteError(target, 'EACCES', `cannot write ${target}: permission denied`));
    chmodSync(ro, 0o700);
  });

  it('names the target, not the temporary file, when its folder is missing', async () => {
    const target = join(dir, 'no-such-folder', 'x.bin');
    await expect(stageFile(target, (fh) => writeAll(fh, new Uint8Array([1])))).rejects.toThrow(new FileWriteError(target, 'ENOENT', `cannot write ${target}: its folder does not exist`));
  });

  it('says what failed in the user\'s terms: a full disk names the file', () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
    expect(writeErrorOf(full, 'out/samples.png').message).toBe('no space left writing out/samples.png');
    const readOnly = Object.assign(new Error('EROFS: read-only file system, open'), { code: 'EROFS', syscall: 'open' });
    expect(writeErrorOf(readOnly, 'out/samples.png').message).toBe('cannot write out/samples.png: read-only file system');
  });
});
