/**
 * The outputs of a run: checked against its inputs and each other before any
 * work, written all together or not at all, errors naming the user's path.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError, UsageError } from '../src/errors.js';
import { outputSet, readBytes } from '../src/files.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const at = (name: string) => join(tmp.dir, name);

describe('outputSet', () => {
  it('refuses an output that is an input, under any name', async () => {
    writeFileSync(at('model.safetensors'), 'weights');
    symlinkSync(at('model.safetensors'), at('link.safetensors'));
    mkdirSync(at('sub'));
    const input = [{ path: at('model.safetensors'), flag: '--checkpoint' }];
    for (const name of ['model.safetensors', 'link.safetensors', join('sub', '..', 'model.safetensors')]) {
      await expect(outputSet([{ path: at(name), flag: '--out' }], input)).rejects.toThrow(
        new UsageError(`--out ${at(name)} is the --checkpoint file ${at('model.safetensors')}: the run would overwrite its own input; choose another --out`),
      );
    }
    expect(readFileSync(at('model.safetensors'), 'utf8')).toBe('weights');
  });

  it('refuses two outputs naming one file, even one not yet written', async () => {
    await expect(outputSet([{ path: at('a.png'), flag: '--out' }, { path: at(join('sub', '..', 'a.png')), flag: '--trace' }])).rejects.toThrow(/--trace and --out name the same file/);
  });

  it('writes every output or none: a failed second write removes the first', async () => {
    const set = await outputSet([{ path: at('one.bin'), flag: '--out' }, { path: at(join('later', 'two.bin')), flag: '--trace' }]);
    await set.bytes(at('one.bin'), new Uint8Array([1]));
    writeFileSync(at('later'), 'a file where the folder should be'); // appears after the check, before the write
    await expect(set.bytes(at(join('later', 'two.bin')), new Uint8Array([2]))).rejects.toThrow(CliError);
    await set.commit();
    expect(existsSync(at('one.bin'))).toBe(false);
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('renames all outputs only at commit', async () => {
    const set = await outputSet([{ path: at('x.bin'), flag: '--out' }, { path: at('y.bin'), flag: '--trace' }]);
    await set.bytes(at('x.bin'), new Uint8Array([1]));
    await set.bytes(at('y.bin'), new Uint8Array([2]));
    expect(existsSync(at('x.bin')) || existsSync(at('y.bin'))).toBe(false);
    await set.commit();
    expect([...readFileSync(at('x.bin')), ...readFileSync(at('y.bin'))]).toEqual([1, 2]);
  });
});

describe('readBytes', () => {
  it('names the file and what it is when it is not a regular file', async () => {
    await expect(readBytes('/dev/zero', 'checkpoint')).rejects.toThrow(new CliError('checkpoint /dev/zero: is a device, not a regular file'));
    await expect(readBytes(tmp.dir, '--noise file')).rejects.toThrow(`--noise file ${tmp.dir}: is a directory, not a file`);
    writeFileSync(at('big.bin'), new Uint8Array(100));
    await expect(readBytes(at('big.bin'), 'shard', 10)).rejects.toThrow(`shard ${at('big.bin')}: is 100 bytes, more than the 10 bytes allowed`);
  });
});
