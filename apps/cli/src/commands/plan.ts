/**
 * `tarflow plan`: the planner's per-block strategy for a model, with the
 * reason for each choice and the predicted depth (and time, for --objective
 * time) against the sequential sampler.
 */
import { planStrategy, type Objective } from '@tarflow/metrics';
import { useBackend, type BackendChoice } from '../backend.js';
import { loadCalibration, type CalibrationFlags } from '../calibration.js';
import { compactStrategy, ms, sci, table } from '../format.js';
import { describeModel, loadModelSource } from '../model-source.js';
import { emit, type CommonFlags } from '../output.js';
import { createProgress, progressEnabled } from '../progress.js';
import { DEFAULT_MODEL_SAMPLING } from '@tarflow/zoo';
import { guidanceFrom, type GuidanceFlags } from './sample.js';

export interface PlanFlags extends CommonFlags, GuidanceFlags, Partial<CalibrationFlags> {
  checkpoint?: string;
  objective: Objective;
  batch: number;
  seed: number;
  backend: BackendChoice;
}

export async function planCommand(flags: PlanFlags): Promise<void> {
  if (flags.checkpoint !== undefined) guidanceFrom(flags); // flag errors before the model loads
  const { name: backend, detail: backendDetail } = await useBackend(flags.backend);
  const source = await loadModelSource(flags.checkpoint);
  const { model } = source;
  const guidance = guidanceFrom(flags, source.name === 'default' ? DEFAULT_MODEL_SAMPLING.guidance : undefined);
  const temperature = flags.temperature ?? (source.name === 'default' ? DEFAULT_MODEL_SAMPLING.temperature : undefined) ?? 1;
  const progress = createProgress(progressEnabled(flags.progress));
  let calib: Awaited<ReturnType<typeof loadCalibration>> = null;
  try {
    calib = await loadCalibration(model, { images: flags.images, dataset: flags.dataset, count: flags.count ?? 64, split: flags.split });
    progress.start('plan', 1);
    let plan;
    try {
      plan = planStrategy(model, {
        objective: flags.objective,
        batch: flags.batch,
        guidance,
        temperature,
        seed: flags.seed,
        calibrationImages: calib?.images,
        onProgress: (m) => progress.status(m),
      });
      progress.increment();
    } finally {
      progress.stop();
    }
    const p = plan.predicted;
    emit(
      flags,
      {
        command: 'plan',
        model: { source: source.name, hash: source.hash },
        backend,
        backendDetail,
        objective: plan.objective,
        settings: { guidance: guidance ?? null, temperature },
        text: plan.text,
        strategy: plan.strategy,
        tolerance: plan.tolerance,
        blocks: plan.blocks,
        predicted: plan.predicted,
        cost: plan.cost,
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
          `objective ${plan.objective} on ${backend}, calibration batch ${flags.batch}${guidance ? `, guidance ${guidance.scale}` : ''}${temperature !== 1 ? `, temperature ${temperature}` : ''}${calib ? `, metrics on ${calib.what}` : ''}`,
          table(['block', 'fwd', 'choice', 'depth', 'time'], rows, ['r', 'r', 'l', 'r', 'r']),
          'why:',
          ...plan.blocks.map((b) => `  block ${b.samplingIndex} (fwd ${b.forwardIndex}): ${b.reason}`),
          `strategy ${compactStrategy(plan.strategy)}`,
          `tolerance ${plan.tolerance ?? 'none (exact)'}; predicted depth ${p.depth} of ${p.sequentialDepth} sequential` +
            (p.ms !== undefined && p.sequentialMs !== undefined ? `; predicted ${ms(p.ms)} vs ${ms(p.sequentialMs)} sequential` : '') +
            `; mean |Δ| vs exact on the calibration batch ${sci(p.meanAbsDiff)}, bound for a batch of ${flags.batch} ${sci(p.meanAbsDiffBound)} (max ${sci(p.maxAbsDiff)})`,
          `use it: tarflow sample --strategy '${plan.text}'${flags.checkpoint ? ` --checkpoint ${flags.checkpoint}` : ''}`,
        ];
        return lines.join('\n');
      },
    );
  } finally {
    calib?.images.dispose();
    model.dispose();
  }
}
