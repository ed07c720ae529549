/**
 * A minimal zip reader for PyTorch checkpoints (browser-safe).
 *
 * It reads the end-of-central-directory record (and its ZIP64 variant), the
 * central directory, and local file headers, and reports where each entry's
 * bytes lie. It never reads more than it needs, so the same code serves an
 * in-memory archive and a file read with positioned reads: the parsing steps
 * are generators that yield read requests, and a driver (sync for bytes,
 * async for a file handle) answers them.
 *
 * Supported: stored entries (method 0, what torch.save writes) and deflated
 * entries (method 8; the caller supplies the inflater), data descriptors
 * (sizes taken from the central directory), ZIP64. Not supported: encryption,
 * multi-disk archives, other compression methods.
 */
import { CheckpointError, quote } from './errors.js';

/** A request for `length` bytes at `offset`; the driver answers with exactly those bytes. */
export interface ReadRequest {
  offset: number;
  length: number;
}

/** A parsing step: yields read requests, returns its result. */
export type ReadStep<T> = Generator<ReadRequest, T, Uint8Array>;

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

export interface ZipDirectory {
  entries: Map<string, ZipEntry>;
  /** Where the central directory starts: entry data must end before it. */
  centralDirectoryOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
/** Central directories larger than this are refused (a checkpoint has a few thousand entries). */
const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(d: DataView, offset: number, what: string): number {
  const v = d.getUint32(offset + 4, true) * 4294967296 + d.getUint32(offset, true);
  if (!Number.isSafeInteger(v)) throw new CheckpointError(`zip: ${what} ${v} is too large`);
  return v;
}

function fail(message: string): never {
  throw new CheckpointError(`zip: ${message}`);
}

/** Reads `length` bytes at `offset`, checking they lie inside a file of `size` bytes. */
function* readAt(offset: number, length: number, size: number, what: string): ReadStep<Uint8Array> {
  if (offset < 0 || length < 0 || offset + length > size) {
    fail(`${what} (bytes ${offset}..${offset + length}) lies outside the ${size}-byte file; is it truncated?`);
  }
  const bytes = yield { offset, length };
  if (bytes.byteLength !== length) fail(`short read of ${what}: wanted ${length} bytes, got ${bytes.byteLength}`);
  return bytes;
}

/** Parses the central directory of a zip archive of `size` bytes. */
export function* readZipDirectory(size: number): ReadStep<ZipDirectory> {
  if (size < EOCD_SIZE) fail(`file is ${size} bytes, too short to be a zip archive`);
  const tailLength = Math.min(size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = size - tailLength;
  const tail = yield* readAt(tailStart, tailLength, size, 'end of archive');
  const td = dv(tail);
  // The EOCD record is the last one whose comment length reaches exactly the end of the file.
  let eocd = -1;
  for (let i = tailLength - EOCD_SIZE; i >= 0; i--) {
    if (td.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + td.getUint16(i + 20, true) === tailLength) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    fail('end-of-central-directory record not found (not a zip archive, or truncated)');
  }
  const disk = td.getUint16(eocd + 4, true);
  const cdDisk = td.getUint16(eocd + 6, true);
  let count = td.getUint16(eocd + 10, true);
  let cdSize = td.getUint32(eocd + 12, true);
  let cdOffset = td.getUint32(eocd + 16, true);
  let cdEnd = tailStart + eocd;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // ZIP64: a locator right before the EOCD record points at the ZIP64 EOCD record.
    const locatorAt = tailStart + eocd - 20;
    const locator = dv(yield* readAt(locatorAt, 20, size, 'ZIP64 end-of-central-directory locator'));
    if (locator.getUint32(0, true) !== SIG_ZIP64_LOCATOR) fail('ZIP64 end-of-central-directory locator is missing');
    const recordAt = u64(locator, 8, 'ZIP64 record offset');
    const record = dv(yield* readAt(recordAt, 56, size, 'ZIP64 end-of-central-directory record'));
    if (record.getUint32(0, true) !== SIG_ZIP64_EOCD) fail('ZIP64 end-of-central-directory record is malformed');
    count = u64(record, 32, 'entry count');
    cdSize = u64(record, 40, 'central directory size');
    cdOffset = u64(record, 48, 'central directory offset');
    cdEnd = recordAt;
  } else if (disk !== 0 || cdDisk !== 0) {
    fail('multi-disk archives are not supported');
  }
  if (cdSize > MAX_CENTRAL_DIRECTORY) fail(`central directory of ${cdSize} bytes is implausibly large`);
  if (cdOffset + cdSize > cdEnd) {
    fail(`central directory (bytes ${cdOffset}..${cdOffset + cdSize}) overruns the end-of-directory record at ${cdEnd}`);
  }
  if (count * 46 > cdSize) fail(`central directory of ${cdSize} bytes cannot hold ${count} entries`);
  const cd = yield* readAt(cdOffset, cdSize, size, 'central directory');
  return { entries: parseCentralDirectory(cd, count, cdOffset), centralDirectoryOffset: cdOffset };
}

const nameDecoder = new TextDecoder('utf-8');

function parseCentralDirectory(cd: Uint8Array, count: number, cdOffset: number): Map<string, ZipEntry> {
  const d = dv(cd);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.byteLength || d.getUint32(p, true) !== SIG_CENTRAL) {
      fail(`central directory entry ${i} is malformed`);
    }
    const flags = d.getUint16(p + 8, true);
    const method = d.getUint16(p + 10, true);
    const crc = d.getUint32(p + 16, true);
    let compressedSize = d.getUint32(p + 20, true);
    let uncompressedSize = d.getUint32(p + 24, true);
    const nameLength = d.getUint16(p + 28, true);
    const extraLength = d.getUint16(p + 30, true);
    const commentLength = d.getUint16(p + 32, true);
    let localHeaderOffset = d.getUint32(p + 42, true);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > cd.byteLength) fail(`central directory entry ${i} runs past the directory`);
    const name = nameDecoder.decode(cd.subarray(p + 46, p + 46 + nameLength));
    // ZIP64 extended information: 64-bit values for the fields that are saturated, in this order.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd) {
      const id = d.getUint16(e, true);
      const len = d.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) fail(`entry ${quote(name)}: extra field runs past its header`);
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + len) fail(`entry ${quote(name)}: ZIP64 extra field is too short`);
          const v = u64(d, q, `entry ${quote(name)} ZIP64 field`);
          q += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      e += 4 + len;
    }
    if (localHeaderOffset + 30 > cdOffset) {
      fail(`entry ${quote(name)}: local header offset ${localHeaderOffset} is past the entries`);
    }
    if (entries.has(name)) fail(`duplicate entry ${quote(name)}`);
    entries.set(name, { name, method, flags, crc32: crc, compressedSize, uncompressedSize, localHeaderOffset });
    p = end;
  }
  return entries;
}

/**
 * Finds where an entry's (possibly compressed) bytes start, from its local
 * header, and checks they end before the central directory.
 */
export function* entryDataOffset(entry: ZipEntry, directory: ZipDirectory, size: number): ReadStep<number> {
  const what = `entry ${quote(entry.name)}`;
  if (entry.flags & 0x1) fail(`${what} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) {
    fail(`${what} uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
  }
  const header = dv(yield* readAt(entry.localHeaderOffset, 30, size, `local header of ${what}`));
  if (header.getUint32(0, true) !== SIG_LOCAL) fail(`local header of ${what} is malformed`);
  const start = entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
  if (start + entry.compressedSize > directory.centralDirectoryOffset) {
    fail(
      `${what} data (bytes ${start}..${start + entry.compressedSize}) overruns the central directory at ${directory.centralDirectoryOffset}`,
    );
  }
  if (entry.method === 0 && entry.compressedSize !== entry.uncompressedSize) {
    fail(`${what} is stored but its sizes differ (${entry.compressedSize} vs ${entry.uncompressedSize})`);
  }
  return start;
}

/** Runs a parsing step against bytes in memory. */
export function runSync<T>(step: ReadStep<T>, bytes: Uint8Array): T {
  let r = step.next();
  while (!r.done) {
    const { offset, length } = r.value;
    r = step.next(bytes.subarray(offset, offset + length));
  }
  return r.value;
}

/** Runs a parsing step against an asynchronous positioned reader. */
export async function runAsync<T>(step: ReadStep<T>, read: (offset: number, length: number) => Promise<Uint8Array>): Promise<T> {
  let r = step.next();
  while (!r.done) {
    const { offset, length } = r.value;
    r = step.next(await read(offset, length));
  }
  return r.value;
}
