import { afterAll, describe, expect, it } from 'vitest';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { tf, type PatchSeq } from '@tarflow/tensor';
import { chooseEngine, loadModel } from '../src/index.js';
import { expectedTensor, loadFixture, useBackend } from './helpers.js';

/** A backend without the fused kernels: the cpu backend's plain kernels under another name. */
const OTHER = 'cpu-without-fused';

describe('engine choice', () => {
  afterAll(async () => {
    await useBackend('cpu');
    tf.removeBackend(OTHER);
  });

  it("'fused' on a backend without the kernels falls back to the plain ops, says why, and samples the same images", async () => {
    await useBackend('cpu');
    tf.registerBackend(OTHER, () => new MathBackendCPU());
    for (const k of tf.getKernelsForBackend('cpu')) if (!k.kernelName.startsWith('Tarflow')) tf.registerKernel({ ...k, backendName: OTHER });
    const f = loadFixture('tiny-cond');
    const bytes = f.checkpoint;
    const sampleOn = async (backend: string, engine: 'fused' | 'plain') => {
      await tf.setBackend(backend);
      const model = loadModel(bytes);
      const noise = tf.tidy(() => tf.slice(expectedTensor(f, 'noise'), 0, 2)) as PatchSeq;
      const labels = tf.tensor1d([1, -1], 'int32');
      const r = model.sample(noise, { labels, guidance: { scale: 1.5 }, engine });
      const images = r.images.dataSync().slice();
      tf.dispose([r.images, noise, labels]);
      model.dispose();
      return { images, engine: r.report.engine };
    };
    const other = await sampleOn(OTHER, 'fused');
    expect(other.engine.name).toBe('plain');
    expect(other.engine.reason).toMatch(/no fused TarFlow kernels for the 'cpu-without-fused' backend/);
    const cpu = await sampleOn('cpu', 'plain');
    expect(cpu.engine).toEqual({ name: 'plain' });
    expect(Array.from(other.images)).toEqual(Array.from(cpu.images));
  });

  it('chooses fused on cpu and wasm unless asked for plain, and rejects unknown engines', async () => {
    for (const backend of ['cpu', 'wasm']) {
      await useBackend(backend);
      expect(chooseEngine()).toEqual({ name: 'fused' });
      expect(chooseEngine('fused')).toEqual({ name: 'fused' });
      expect(chooseEngine('plain')).toEqual({ name: 'plain' });
    }
    expect(() => chooseEngine('fast' as never)).toThrow("engine must be 'auto', 'fused' or 'plain', got \"fast\"");
  });
});
