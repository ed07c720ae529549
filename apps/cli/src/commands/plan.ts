/**
 * `tarflow plan`: the planner's strategy for a model (thorough by default),
 * with the reason for each choice and the predicted depth (and time, for
 * --objective time) against the sequential sampler. The plan is kept in the
 * plan cache, where `sample --solver auto` finds it; --save-into ships it in
 * a model file's metadata (key `plans`).
 */
import { resolve } from 'node:path';
import { parseSafetensors } from '@tarflow/checkpoint';
import { writeSafetensorsFile } from '@tarflow/checkpoint/node';
import { modelToSafetensors } from '@tarflow/model';
import { keepPlan, modelFingerprint, planQuery, planStrategy, withShippedPlan, type Effort, type Objective, type PlanOptions } from '@tarflow/metrics';
import { formatStrategy } from '@tarflow/solvers';
import { useBackend, type BackendChoice } from '../backend.js';
import { loadCalibration, type CalibrationFlags } from '../calibration.js';
import { ms, sci, table } from '../format.js';
import { describeModel, loadModelSource, type ModelSource } from '../model-source.js';
import { emit, note, type CommonFlags } from '../output.js';
import { createProgress, progressEnabled } from '../progress.js';
import { planStoreFrom, type PlanCacheFlags } from '../strategy.js';
import { guidanceFrom, type GuidanceFlags } from './sample.js';
import { UsageError } from '../errors.js';
import { given, outputSet } from '../files.js';

export interface PlanFlags extends CommonFlags, GuidanceFlags, Partial<CalibrationFlags>, PlanCacheFlags {
  checkpoint?: string;
  objective: Objective;
  effort?: Effort;
  batch: number;
  seed: number;
  backend: BackendChoice;
  saveInto?: string;
}

/** The file's tensors and metadata, with the plans' metadata replaced: the source bytes where they are TarFlow safetensors, else the model re-serialized. */
function fileWithPlans(source: ModelSource, bytes: Uint8Array | null, update: (meta: Record<string, string>) => Record<string, string>) {
  if (bytes && source.metadata.config !== undefined) {
    const file = parseSafetensors(bytes);
    return { tensors: file.tensors, metadata: update(file.metadata) };
  }
  const file = modelToSafetensors(source.model);
  return { tensors: file.tensors, metadata: update(file.metadata) };
}

export async function planCommand(flags: PlanFlags): Promise<void> {
  if (flags.checkpoint !== undefined) guidanceFrom(flags); // flag errors before the model loads
  if (flags.saveInto !== undefined && !/\.safetensors$/i.test(flags.saveInto)) throw new UsageError(`--save-into ${flags.saveInto}: must end in .safetensors`);
  // --save-into may be the --checkpoint (updated in place), never the calibration images: checked before any work.
  if (flags.saveInto !== undefined) await outputSet([{ path: flags.saveInto, flag: '--save-into' }], given({ '--images': flags.images }));
  const { name: backend, detail: backendDetail } = await useBackend(flags.backend);
  const source = await loadModelSource(flags.checkpoint);
  const { model } = source;
  const guidance = guidanceFrom(flags, model.recommended?.guidance);
  const temperature = flags.temperature ?? model.recommended?.temperature ?? 1;
  const progress = createProgress(progressEnabled(flags.progress));
  let calib: Awaited<ReturnType<typeof loadCalibration>> = null;
  try {
    calib = await loadCalibration(model, { images: flags.images, dataset: flags.dataset, count: flags.count ?? 64, split: flags.split });
    progress.start('plan', 1);
    const options: PlanOptions = {
      objective: flags.objective,
      effort: flags.effort ?? 'thorough',
      batch: flags.batch,
      guidance,
      temperature,
      seed: flags.seed,
      calibrationImages: calib?.images,
      onProgress: (m) => progress.status(m),
    };
    let plan;
    try {
      plan = planStrategy(model, options);
      progress.increment();
    } finally {
      progress.stop();
    }
    const { batch: _batch, ...query } = planQuery(model, options, modelFingerprint(model));
    const store = planStoreFrom(flags);
    if (store && plan.complete) keepPlan(store, plan, query);
    let savedInto: string | undefined;
    if (flags.saveInto !== undefined) {
      const { readFile } = await import('node:fs/promises');
      const bytes = flags.checkpoint !== undefined ? new Uint8Array(await readFile(flags.checkpoint)) : await (await import('@tarflow/zoo')).defaultModelBytes();
      const file = fileWithPlans(source, bytes, (meta) => withShippedPlan(meta, plan, query));
      await writeSafetensorsFile(flags.saveInto, file.tensors, file.metadata);
      savedInto = resolve(flags.saveInto);
    }
    const p = plan.predicted;
    emit(
      flags,
      {
        command: 'plan',
        model: { source: source.name, hash: source.hash, weights: query.model },
        backend,
        backendDetail,
        engine: query.engine,
        objective: plan.objective,
        effort: plan.effort,
        settings: { guidance: guidance ?? null, temperature },
        text: plan.text,
        strategy: plan.strategy,
        tolerance: plan.tolerance,
        batch: plan.batch,
        reasons: plan.reasons,
        planningMs: plan.planningMs,
        blocks: plan.blocks,
        predicted: plan.predicted,
        measured: plan.measured ?? null,
        cost: plan.cost,
        ...(savedInto ? { savedInto } : {}),
      },
      () => {
        const rows = plan.blocks.map((b) => [
          String(b.samplingIndex),
          String(b.forwardIndex),
          b.choice,
          String(b.depth),
          b.predictedMs !== undefined ? ms(b.predictedMs) : '–',
        ]);
        const lines = [
          describeModel(source),
          `objective ${plan.objective} (${plan.effort}) on ${backend}, ${query.engine} engine, calibration batch ${flags.batch}${guidance ? `, guidance ${guidance.scale}` : ''}${temperature !== 1 ? `, temperature ${temperature}` : ''}${calib ? `, metrics on ${calib.what}` : ''}`,
          table(['block', 'fwd', 'choice', 'depth', 'time'], rows, ['r', 'r', 'l', 'r', 'r']),
          'why:',
          ...plan.blocks.map((b) => `  block ${b.samplingIndex} (fwd ${b.forwardIndex}): ${b.reason}`),
          ...plan.reasons.map((r) => `  ${r}`),
          `strategy ${formatStrategy(plan.strategy, { compact: true })}`,
          `tolerance ${plan.tolerance ?? 'none (exact)'}; predicted depth ${p.depth} of ${p.sequentialDepth} sequential` +
            (p.ms !== undefined && p.sequentialMs !== undefined ? `; predicted ${ms(p.ms)} vs ${ms(p.sequentialMs)} sequential` : '') +
            `; mean |Δ| vs exact on the calibration batch ${sci(p.meanAbsDiff)}, bound for a batch of ${flags.batch} ${sci(p.meanAbsDiffBound)} (max ${sci(p.maxAbsDiff)}); valid for batches of ${plan.batch.min} or more`,
          ...(savedInto ? [`wrote ${flags.saveInto} with the plan in its metadata ('plans')`] : []),
          `use it: tarflow sample${flags.checkpoint ? ` --checkpoint ${flags.checkpoint}` : ''} (solver auto finds it) or --strategy '${plan.text}'`,
        ];
        return lines.join('\n');
      },
    );
    if (!plan.complete) note('the plan was cut short by its budget: not kept');
  } finally {
    calib?.images.dispose();
    model.dispose();
  }
}
