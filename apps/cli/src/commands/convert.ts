/**
 * `tarflow convert`: a PyTorch checkpoint (.pth, as Apple's ml-tarflow and
 * the GS-Jacobi code write them) or a safetensors file exported from PyTorch,
 * to a TarFlow safetensors file with the config in its metadata. Streams: the
 * checkpoint is never held in memory twice.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { convertCheckpoint, type ConvertResult } from '@tarflow/checkpoint/node';
import { tarflowConversion, type InferredConfig, type TarFlowConfig } from '@tarflow/model';
import { outputKind } from '../args.js';
import { checkInputFile, outputSet } from '../files.js';
import { CONFIG_FLAGS } from '../constants.js';
import { CliError, messageOf } from '../errors.js';
import { table } from '../format.js';
import { emit, type CommonFlags } from '../output.js';


export type ConfigFlags = Partial<Record<keyof typeof CONFIG_FLAGS, number>>;

/** The config fields given as flags. */
export function configOverrides(flags: ConfigFlags): Partial<TarFlowConfig> {
  const out: Record<string, number> = {};
  for (const [flag, key] of Object.entries(CONFIG_FLAGS)) {
    const v = flags[flag as keyof ConfigFlags];
    if (v !== undefined) out[key] = v;
  }
  return out as Partial<TarFlowConfig>;
}

export interface ConvertFlags extends CommonFlags, ConfigFlags {
  out: string;
}

export async function convertCommand(input: string, flags: ConvertFlags): Promise<void> {
  outputKind(flags.out, '--out', ['safetensors']);
  await outputSet([{ path: flags.out, flag: '--out' }], [{ path: input, flag: 'input' }]);
  await checkInputFile(input, 'checkpoint');
  await mkdir(dirname(resolve(flags.out)), { recursive: true });
  // The checkpoint package streams the formats; the model package infers and records the config.
  const conversion = tarflowConversion(configOverrides(flags));
  let r: Omit<ConvertResult, 'metadata'> & InferredConfig;
  try {
    const { metadata: _written, ...converted } = await convertCheckpoint(input, flags.out, conversion);
    r = { ...converted, ...conversion.inferred() };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && err.path === input) throw new CliError(`checkpoint ${input}: no such file`);
    if (err.code === 'EISDIR' && err.path === undefined) throw new CliError(`checkpoint ${input}: is a directory, not a file`);
    throw new CliError(`cannot convert ${input}: ${messageOf(e)}`);
  }
  emit(
    flags,
    { command: 'convert', input: resolve(input), out: resolve(flags.out), ...r },
    () =>
      [
        `converted ${input} (${r.format}) → ${flags.out}: ${r.tensors} tensors, ${r.bytes} bytes`,
        table(
          ['field', 'value', 'from'],
          Object.entries(r.config).map(([k, v]) => [k, String(v), r.sources[k as keyof typeof r.sources] ?? '']),
        ),
        ...(r.strippedPrefixes.length ? [`stripped name prefixes: ${r.strippedPrefixes.join(', ')}`] : []),
        ...(r.skipped.length ? [`ignored non-tensor entries: ${r.skipped.join(', ')}`] : []),
        ...r.notes.map((n) => `note: ${n}`),
      ].join('\n'),
  );
}
