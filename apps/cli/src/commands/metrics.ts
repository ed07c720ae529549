/**
 * `tarflow metrics`: the Convergence Ranking Metric and Initial Guessing
 * Metric (Liu & Qin 2025) of every block of a model on a calibration batch.
 */
import { convergenceMetrics, type MatrixNorm } from '@tarflow/metrics';
import { useBackend, type BackendChoice } from '../backend.js';
import { loadCalibration, type CalibrationFlags } from '../calibration.js';
import { CliError, UsageError } from '../errors.js';
import { sci, table } from '../format.js';
import { describeModel, loadModelSource } from '../model-source.js';
import { emit, type CommonFlags } from '../output.js';

export interface MetricsFlags extends CommonFlags, CalibrationFlags {
  checkpoint?: string;
  norm: MatrixNorm;
  backend: BackendChoice;
}

export async function metricsCommand(flags: MetricsFlags): Promise<void> {
  if (flags.images === undefined && flags.dataset === undefined) {
    throw new UsageError('metrics needs a calibration batch: --images file.safetensors (tensor x [B,C,H,W]) or --dataset mnist|fashion-mnist|<folder>');
  }
  const { name: backend, detail: backendDetail } = await useBackend(flags.backend);
  const source = await loadModelSource(flags.checkpoint);
  const { model } = source;
  try {
    const calib = (await loadCalibration(model, flags))!;
    let m;
    try {
      m = convergenceMetrics(model, calib.images, { norm: flags.norm });
    } finally {
      calib.images.dispose();
    }
    const blocks = m.blocks; // forward order
    // Finite images through a model with non-finite weights give non-finite scores: refuse them rather than print dashes.
    const broken = blocks.filter((b) => ![b.crm, ...b.igm].every(Number.isFinite));
    if (broken.length > 0) {
      throw new CliError(
        `the metrics of ${broken.length} of ${blocks.length} blocks are not finite (first: forward block ${broken[0].forwardIndex}); ` +
          `the model (${source.name}) gives non-finite values on this calibration batch — check its weights`,
      );
    }
    emit(
      flags,
      {
        crm: blocks.map((b) => b.crm),
        igm: blocks.map((b) => b.igm),
        crmShare: blocks.map((b) => b.crmShare),
        crmTerms: blocks.map((b) => b.crmTerms),
        samplingIndex: blocks.map((b) => b.samplingIndex),
        norm: m.norm,
        model: { source: source.name, hash: source.hash },
        calibration: calib.what,
        backend,
        backendDetail,
      },
      () => {
        const rows = blocks.map((b) => [
          String(b.forwardIndex),
          String(b.samplingIndex),
          sci(b.crm, 3),
          `${(b.crmShare * 100).toFixed(1)}%`,
          sci(b.igm[0], 3),
          sci(b.igm[1], 3),
          b.igm[1] < b.igm[0] ? 'zeros' : 'noise',
        ]);
        const toughest = blocks.reduce((a, b) => (b.crm > a.crm ? b : a));
        return [
          describeModel(source),
          `calibration: ${calib.what}; matrix norm ${m.norm}`,
          table(['block', 'sampling', 'CRM', 'share', 'IGM noise', 'IGM zeros', 'better guess'], rows, ['r', 'r', 'r', 'r', 'r', 'r', 'l']),
          `toughest block: forward ${toughest.forwardIndex} (sampling index ${toughest.samplingIndex}); a GS-Jacobi split pays off there first`,
        ].join('\n');
      },
    );
  } finally {
    model.dispose();
  }
}
