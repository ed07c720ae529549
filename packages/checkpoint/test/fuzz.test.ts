/**
 * Fuzzing: mutated copies of a reference .pth (bit flips, overwritten pickle
 * bytes with the CRC repaired so the pickle VM really runs them, corrupted
 * zip directories, truncations, insertions, deletions, re-zipped pickles of a
 * different length) must each either convert or fail with a CheckpointError —
 * no other exception, no hang — and quickly. The RNG is seeded, so a failure
 * reproduces: the report names the case number and mutation.
 * FUZZ_SEED and FUZZ_CASES override the seed and the number of cases.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, importCheckpoint, parseSafetensors } from '../src/index.js';
import { convertCheckpoint } from '../src/node.js';
import { rng, writeZip, type ZipInput } from './builders.js';
import { fixture } from './fixtures.js';

/** FUZZ_SEED / FUZZ_CASES in the environment run a different or longer campaign. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_251_126);
const CASES = Number(process.env.FUZZ_CASES ?? 160);
/** Every few cases also goes through the streaming file converter. */
const STREAM_EVERY = 16;
const MAX_MS_PER_CASE = 3000;

interface ArchiveMap {
  bytes: Uint8Array;
  cdOffset: number;
  files: Array<ZipInput & { crcField: number; dataStart: number }>;
  pickle: { start: number; end: number; crcField: number };
}

/** Maps the fixture archive independently of the code under test. */
function mapArchive(bytes: Uint8Array): ArchiveMap {
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = bytes.length - 22;
  expect(d.getUint32(eocd, true)).toBe(0x06054b50);
  const count = d.getUint16(eocd + 10, true);
  const cdOffset = d.getUint32(eocd + 16, true);
  const files: ArchiveMap['files'] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    const size = d.getUint32(p + 20, true);
    const nameLength = d.getUint16(p + 28, true);
    const skip = nameLength + d.getUint16(p + 30, true) + d.getUint16(p + 32, true);
    const local = d.getUint32(p + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    const dataStart = local + 30 + d.getUint16(local + 26, true) + d.getUint16(local + 28, true);
    files.push({ name, data: bytes.subarray(dataStart, dataStart + size), crcField: p + 16, dataStart });
    p += 46 + skip;
  }
  const pkl = files.find((f) => f.name.endsWith('/data.pkl'))!;
  return { bytes, cdOffset, files, pickle: { start: pkl.dataStart, end: pkl.dataStart + pkl.data.length, crcField: pkl.crcField } };
}

/** Opcode bytes worth trying in a pickle (valid ones, so mutations get past the first byte). */
const OPCODES = [...'()0125GJKMNQRX]abcehjqrstu}.'].map((c) => c.charCodeAt(0)).concat([0x80, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x93, 0x94, 0x95]);

type Mutation = { kind: string; bytes: Uint8Array };

function mutate(archive: ArchiveMap, random: () => number, index: number): Mutation {
  const { bytes, pickle, cdOffset } = archive;
  const int = (n: number): number => Math.floor(random() * n);
  const repairPickleCrc = (out: Uint8Array): void => {
    new DataView(out.buffer).setUint32(pickle.crcField, zlibCrc32(out.subarray(pickle.start, pickle.end)), true);
  };
  switch (index % 8) {
    case 0: {
      const out = bytes.slice();
      const n = 1 + int(4);
      for (let i = 0; i < n; i++) out[int(out.length)] ^= 1 << int(8);
      return { kind: `flip ${n} bits anywhere`, bytes: out };
    }
    case 1: {
      const out = bytes.slice();
      const n = 1 + int(8);
      for (let i = 0; i < n; i++) out[pickle.start + int(pickle.end - pickle.start)] = int(256);
      repairPickleCrc(out);
      return { kind: `overwrite ${n} pickle bytes (CRC repaired)`, bytes: out };
    }
    case 2: {
      const out = bytes.slice();
      const n = 1 + int(3);
      for (let i = 0; i < n; i++) out[pickle.start + int(pickle.end - pickle.start)] = OPCODES[int(OPCODES.length)];
      repairPickleCrc(out);
      return { kind: `write ${n} opcodes into the pickle (CRC repaired)`, bytes: out };
    }
    case 3: {
      const out = bytes.slice();
      const n = 1 + int(4);
      for (let i = 0; i < n; i++) out[cdOffset + int(out.length - cdOffset)] = int(256);
      return { kind: `overwrite ${n} central directory bytes`, bytes: out };
    }
    case 4: {
      const at = int(bytes.length);
      return { kind: `truncate to ${at} bytes`, bytes: bytes.slice(0, at) };
    }
    case 5: {
      const at = int(bytes.length);
      const n = 1 + int(32);
      const out = new Uint8Array(bytes.length + n);
      out.set(bytes.subarray(0, at));
      for (let i = 0; i < n; i++) out[at + i] = int(256);
      out.set(bytes.subarray(at), at + n);
      return { kind: `insert ${n} bytes at ${at}`, bytes: out };
    }
    case 6: {
      const at = int(bytes.length);
      const n = 1 + int(4096);
      const out = new Uint8Array(Math.max(at, bytes.length - n));
      out.set(bytes.subarray(0, at));
      out.set(bytes.subarray(Math.min(bytes.length, at + n)), at);
      return { kind: `delete ${n} bytes at ${at}`, bytes: out };
    }
    default: {
      // Cut, duplicate or splice a span of the pickle, then re-zip with valid CRCs.
      const pkl = bytes.subarray(pickle.start, pickle.end);
      const a = int(pkl.length);
      const b = Math.min(pkl.length, a + 1 + int(64));
      const choice = int(3);
      const parts =
        choice === 0
          ? [pkl.subarray(0, a), pkl.subarray(b)]
          : choice === 1
            ? [pkl.subarray(0, b), pkl.subarray(a, b), pkl.subarray(b)]
            : [pkl.subarray(0, a), pkl.subarray(int(pkl.length), int(pkl.length) + 1 + int(64)), pkl.subarray(b)];
      const mutated = new Uint8Array(parts.reduce((s, x) => s + x.length, 0));
      let p = 0;
      for (const x of parts) {
        mutated.set(x, p);
        p += x.length;
      }
      const files = archive.files.map((f) => ({ name: f.name, data: f.name.endsWith('/data.pkl') ? mutated : f.data }));
      return { kind: `${['cut', 'duplicate', 'splice'][choice]} pickle bytes ${a}..${b} and re-zip`, bytes: writeZip(files) };
    }
  }
}

describe('fuzzed .pth files convert or fail with CheckpointError', () => {
  let dir: string;
  let archive: ArchiveMap;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tarflow-fuzz-'));
    archive = mapArchive(new Uint8Array(await readFile(fixture('tiny-uncond.pth'))));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`${CASES} mutated copies of tiny-uncond.pth (seed ${SEED})`, async () => {
    const random = rng(SEED);
    const problems: string[] = [];
    const outcomes = new Map<string, number>();
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const { kind, bytes } = mutate(archive, random, i);
      const started = performance.now();
      let outcome: string;
      try {
        const { bytes: out } = importCheckpoint(bytes);
        parseSafetensors(out);
        outcome = 'converted';
      } catch (e) {
        if (!(e instanceof CheckpointError)) problems.push(`case ${i} (${kind}): ${(e as Error)?.stack ?? String(e)}`);
        outcome = e instanceof CheckpointError ? e.message.split(':')[0] : 'OTHER';
      }
      if (i % STREAM_EVERY === 0) {
        const input = join(dir, `case${i}.pth`);
        const output = join(dir, `case${i}.safetensors`);
        await writeFile(input, bytes);
        try {
          await convertCheckpoint(input, output);
          parseSafetensors(new Uint8Array(await readFile(output)));
        } catch (e) {
          if (!(e instanceof CheckpointError)) problems.push(`case ${i} streaming (${kind}): ${(e as Error)?.stack ?? String(e)}`);
          const leftovers = (await readdir(dir)).filter((f) => f.includes(`case${i}.safetensors`));
          if (leftovers.length) problems.push(`case ${i} streaming (${kind}): failed but left ${leftovers.join(', ')}`);
        }
      }
      const ms = performance.now() - started;
      slowest = Math.max(slowest, ms);
      if (ms > MAX_MS_PER_CASE) problems.push(`case ${i} (${kind}) took ${ms.toFixed(0)} ms`);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    console.log(`fuzz outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}; slowest case ${slowest.toFixed(0)} ms`);
    expect(problems).toEqual([]);
    // The mutations must reach past the zip layer: some cases convert, some fail in the pickle VM.
    expect(outcomes.get('converted') ?? 0).toBeGreaterThan(0);
    expect(outcomes.get('pickle') ?? 0).toBeGreaterThan(0);
    expect(slowest).toBeLessThan(MAX_MS_PER_CASE);
  });
});
