/**
 * Sharded runs merge into exactly the unsharded run, merge refuses shards
 * that do not belong together, and convert turns the reference .pth files
 * into the reference .safetensors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '@tarflow/checkpoint';
import { fixturesDir } from '@tarflow/test-fixtures';
import { filesIn, readTensor, tarflow, tempDir } from './helpers.js';

describe('sample --shard and merge', () => {
  const checkpoint = join(fixturesDir(), 'tiny-cond.safetensors');
  const run = ['sample', '--checkpoint', checkpoint, '--batch', '5', '--seed', '11', '--labels', 'random', '--strategy', '[0-4-9-3]', '--chunk', '2'];
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    tmp = tempDir();
    const results = await Promise.all([
      tarflow([...run, '--out', join(tmp.dir, 'full.safetensors')]),
      ...[1, 2, 3].map((i) => tarflow([...run, '--shard', `${i}/3`, '--out', join(tmp.dir, `part${i}.safetensors`)])),
      tarflow([...run.map((a) => (a === '11' ? '12' : a)), '--shard', '3/3', '--out', join(tmp.dir, 'other-seed.safetensors')]),
    ]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
  });
  afterAll(() => tmp.cleanup());

  it('merging the shards (in any order) gives the unsharded run exactly', async () => {
    const merged = join(tmp.dir, 'merged.safetensors');
    const r = await tarflow(['merge', ...[3, 1, 2].map((i) => join(tmp.dir, `part${i}.safetensors`)), '--out', merged, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).samples).toBe(5);
    const full = readTensor(join(tmp.dir, 'full.safetensors'), 'sample');
    const got = readTensor(merged, 'sample');
    expect(got.shape).toEqual([5, 3, 12, 12]);
    expect(Buffer.from(got.data.buffer).equals(Buffer.from(full.data.buffer))).toBe(true);
    const labels = (p: string) => [...parseSafetensors(new Uint8Array(readFileSync(p))).tensors.get('labels')!.data];
    expect(labels(merged)).toEqual(labels(join(tmp.dir, 'full.safetensors')));
    expect(got.metadata.run).toBe(full.metadata.run);
  });

  it('merges into a PNG grid', async () => {
    const r = await tarflow(['merge', ...[1, 2, 3].map((i) => join(tmp.dir, `part${i}.safetensors`)), '--out', join(tmp.dir, 'merged.png')]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(tmp.dir, 'merged.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('refuses a missing shard, a duplicate, and a shard of another run', async () => {
    const p = (name: string) => join(tmp.dir, name);
    const missing = await tarflow(['merge', p('part1.safetensors'), p('part2.safetensors'), '--out', p('bad.safetensors')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/missing shard 3\/3/);
    const dup = await tarflow(['merge', p('part1.safetensors'), p('part1.safetensors'), p('part3.safetensors'), '--out', p('bad.safetensors')]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/given twice/);
    const other = await tarflow(['merge', p('part1.safetensors'), p('part2.safetensors'), p('other-seed.safetensors'), '--out', p('bad.safetensors')]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/does not belong .*different seed/);
    expect(filesIn(tmp.dir)).not.toContain('bad.safetensors');
  });
});

describe('convert', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.cleanup());

  it.each(['tiny-uncond', 'tiny-cond'])('%s: the .pth converts to the tensors and config of the fixture .safetensors', async (name) => {
    const spec = JSON.parse(readFileSync(join(fixturesDir(), `${name}.json`), 'utf8'));
    const c = spec.config;
    const out = join(tmp.dir, `${name}.safetensors`);
    // The .pth records neither noise_std nor (for 3-channel patches) in_channels / patch_size: give them as flags.
    const r = await tarflow([
      'convert', join(fixturesDir(), `${name}.pth`), '--out', out,
      '--noise-std', String(c.noise_std), '--in-channels', String(c.in_channels), '--patch-size', String(c.patch_size), '--img-size', String(c.img_size), '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).config).toEqual(c);
    const got = parseSafetensors(new Uint8Array(readFileSync(out)));
    const want = parseSafetensors(new Uint8Array(readFileSync(join(fixturesDir(), `${name}.safetensors`))));
    expect([...got.tensors.keys()].sort()).toEqual([...want.tensors.keys()].sort());
    for (const [key, t] of want.tensors) {
      const g = got.tensors.get(key)!;
      expect(g.dtype, key).toBe(t.dtype);
      expect(g.shape, key).toEqual(t.shape);
      expect(Buffer.from(g.data).equals(Buffer.from(t.data)), key).toBe(true);
    }
    expect(JSON.parse(got.metadata.config)).toEqual(JSON.parse(want.metadata.config));
  });
});
