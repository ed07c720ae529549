/**
 * Atomic file writing (Node): content goes to a temporary file in the target's
 * directory, is fsynced, then renamed over the target.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file atomically: the content goes to a temporary file in the same
 * directory, which is flushed to disk (fsync) and then renamed over `path`.
 * Readers see either the old file or the complete new one, never a partial
 * one; on failure the temporary file is removed and `path` is untouched.
 *
 * `write` receives the open temporary file and writes the content.
 */
export async function withAtomicFile(path: string, write: (fh: FileHandle) => Promise<void>): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx');
  let closed = false;
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
    closed = true;
    await rename(tmp, path);
  } catch (e) {
    if (!closed) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDirectory(dir);
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

