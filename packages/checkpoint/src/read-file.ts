/**
 * Reading a whole input file safely (Node): only regular files, only up to a
 * size limit, both checked on the open handle before anything is read — so a
 * FIFO, /dev/zero or a directory is refused at once instead of blocking,
 * reading forever or failing with a system message.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Largest file readFileChecked reads by default: 2 GiB. */
export const DEFAULT_MAX_READ_BYTES = 2 * 1024 ** 3;

/** Why a file could not be read. */
export type FileReadProblem = 'missing' | 'directory' | 'not-regular' | 'too-large' | 'permission' | 'io';

/** A refused or failed read; `message` is "<path>: <reason>" in the user's terms. */
export class FileReadError extends Error {
  constructor(
    readonly path: string,
    readonly problem: FileReadProblem,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'FileReadError';
  }
}

export interface ReadFileOptions {
  /** Refuse files larger than this many bytes (default DEFAULT_MAX_READ_BYTES). */
  maxBytes?: number;
}

function sizeText(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

function kindOf(stat: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a pipe (FIFO)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

function problemOf(e: unknown, path: string): FileReadError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FileReadError(path, 'missing', 'no such file');
  if (code === 'EISDIR') return new FileReadError(path, 'directory', 'is a directory, not a file');
  if (code === 'EACCES' || code === 'EPERM') return new FileReadError(path, 'permission', 'permission denied');
  if (code === 'ELOOP') return new FileReadError(path, 'io', 'too many levels of symbolic links');
  return new FileReadError(path, 'io', `cannot read (${code ?? (e instanceof Error ? e.message : String(e))})`);
}

/** Opens `path` for reading and checks, on the handle, that it is a regular file within the limit. */
async function openChecked(path: string, maxBytes: number): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    // Non-blocking, so that opening a FIFO with no writer returns at once.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw problemOf(e, path);
  }
  try {
    const stat = await fh.stat();
    if (stat.isDirectory()) throw new FileReadError(path, 'directory', 'is a directory, not a file');
    if (!stat.isFile()) throw new FileReadError(path, 'not-regular', `is ${kindOf(stat)}, not a regular file`);
    if (stat.size > maxBytes) {
      throw new FileReadError(path, 'too-large', `is ${sizeText(stat.size)}, more than the ${sizeText(maxBytes)} allowed`);
    }
    return { fh, size: stat.size };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e instanceof FileReadError ? e : problemOf(e, path);
  }
}

/**
 * Checks, without reading it, that `path` is a regular file of at most
 * `maxBytes` bytes (for readers that stream a file themselves). Throws a
 * FileReadError like readFileChecked; returns the size.
 */
export async function checkReadableFile(path: string, options: ReadFileOptions = {}): Promise<number> {
  const { fh, size } = await openChecked(path, options.maxBytes ?? DEFAULT_MAX_READ_BYTES);
  await fh.close().catch(() => undefined);
  return size;
}

/**
 * Reads a whole regular file of at most `maxBytes` bytes. Throws a
 * FileReadError (never a raw system error) for a missing file, a directory,
 * a FIFO or device, a file past the limit, or a failed read.
 */
export async function readFileChecked(path: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
  const { fh, size } = await openChecked(path, options.maxBytes ?? DEFAULT_MAX_READ_BYTES);
  try {
    const bytes = new Uint8Array(size);
    let done = 0;
    while (done < bytes.length) {
      const { bytesRead } = await fh.read(bytes, done, bytes.length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    if (done !== bytes.length) throw new FileReadError(path, 'io', `changed while it was read (${done} of ${size} bytes)`);
    return bytes;
  } catch (e) {
    throw e instanceof FileReadError ? e : problemOf(e, path);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
