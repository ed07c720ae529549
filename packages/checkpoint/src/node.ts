/**
 * Node-only helpers: file I/O for safetensors, atomic writes, and the
 * streaming .pth → .safetensors converter. Import as `@tarflow/checkpoint/node`.
 */
import { withAtomicFile, writeAll } from './fsutil.js';
import { readFileChecked } from './read-file.js';
import { checkRawTensor, type RawTensor } from './dtype.js';
import { layoutSafetensors, parseSafetensors, type SafetensorsFile } from './safetensors.js';

export { withAtomicFile, stageFile, writeAll, writeErrorOf, FileWriteError, type StagedFile } from './fsutil.js';
export { readFileChecked, checkReadableFile, FileReadError, DEFAULT_MAX_READ_BYTES, type FileReadProblem, type ReadFileOptions } from './read-file.js';
export { convertCheckpoint, readPthFile, zlibInflate, type ConvertOptions, type ConvertResult } from './convert.js';

/** Reads and parses a whole safetensors file. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  return parseSafetensors(await readFileChecked(path));
}

/** Atomically replaces `path` with `bytes` (temporary file, fsync, rename). */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await withAtomicFile(path, (fh) => writeAll(fh, bytes));
}

/**
 * Writes tensors as a safetensors file, atomically, laid out like the
 * reference library (see serializeSafetensors). The file is written piece by
 * piece, never assembled in memory.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of list) checkRawTensor(t, name);
  const byName = new Map(list);
  const layout = layoutSafetensors(
    list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    metadata,
  );
  await withAtomicFile(path, async (fh) => {
    await writeAll(fh, layout.header);
    for (const e of layout.entries) await writeAll(fh, byName.get(e.name)!.data);
  });
}
