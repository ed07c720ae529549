/**
 * Atomic file writing (Node): content goes to a temporary file in the target's
 * directory, is fsynced, then renamed over the target. Several files can be
 * staged first and renamed together only when all of them were written.
 * Errors name the target path, never the temporary file, and say what failed.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A failed write of `path` (the file the caller asked for), with the system error code. */
export class FileWriteError extends Error {
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    reason: string,
  ) {
    super(reason);
    this.name = 'FileWriteError';
  }
}

function isSystemError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/** The error of a failed write, in terms of the target `path`. */
export function writeErrorOf(e: unknown, path: string): FileWriteError {
  if (e instanceof FileWriteError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const reasons: Record<string, string> = {
    ENOSPC: `no space left writing ${path}`,
    EDQUOT: `disk quota exceeded writing ${path}`,
    EACCES: `cannot write ${path}: permission denied`,
    EPERM: `cannot write ${path}: permission denied`,
    EROFS: `cannot write ${path}: read-only file system`,
    ENOENT: `cannot write ${path}: its folder does not exist`,
    ENOTDIR: `cannot write ${path}: a part of its folder path is not a folder`,
    EISDIR: `cannot write ${path}: it is a directory`,
    EIO: `input/output error writing ${path}`,
    EFBIG: `${path}: file too large for the file system`,
  };
  const reason = (code && reasons[code]) ?? `cannot write ${path} (${code ?? (e instanceof Error ? e.message : String(e))})`;
  return new FileWriteError(path, code, reason);
}

/** A file written to a temporary name beside `path`, waiting to be renamed over it. */
export interface StagedFile {
  readonly path: string;
  /** Renames the temporary file over `path` and flushes the directory entry. */
  commit(): Promise<void>;
  /** Removes the temporary file (safe to call more than once, and after a failed commit). */
  discard(): Promise<void>;
}

/**
 * Writes content for `path` to a temporary file in the same directory and
 * flushes it to disk (fsync), without touching `path`. On failure the
 * temporary file is removed and a FileWriteError naming `path` is thrown.
 */
export async function stageFile(path: string, write: (fh: FileHandle) => Promise<void>): Promise<StagedFile> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx');
  } catch (e) {
    throw writeErrorOf(e, path);
  }
  let closed = false;
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
    closed = true;
  } catch (e) {
    if (!closed) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    // System errors of the write become FileWriteErrors; errors of `write` itself (bad content) pass through.
    throw isSystemError(e) ? writeErrorOf(e, path) : e;
  }
  let done = false;
  return {
    path,
    async commit() {
      try {
        await rename(tmp, path);
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw writeErrorOf(e, path);
      }
      done = true;
      await syncDirectory(dir);
    },
    async discard() {
      if (!done) await unlink(tmp).catch(() => undefined);
      done = true;
    },
  };
}

/**
 * Writes a file atomically: the content goes to a temporary file in the same
 * directory, which is flushed to disk (fsync) and then renamed over `path`.
 * Readers see either the old file or the complete new one, never a partial
 * one; on failure the temporary file is removed and `path` is untouched.
 *
 * `write` receives the open temporary file and writes the content.
 */
export async function withAtomicFile(path: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const staged = await stageFile(path, write);
  await staged.commit();
}

/** Flushes a directory entry (the rename) to disk where the platform allows it. */
async function syncDirectory(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Writes all of `bytes` at the file's current position. */
export async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}
