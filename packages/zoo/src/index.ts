/**
 * @tarflow/zoo — the assets TarFlow embeds:
 *
 * - `mnist-cond.safetensors`: the default model, a class-conditional MNIST
 *   TarFlow trained by `@tarflow/train` (load with `@tarflow/model`'s
 *   `loadModel`; its config and recommended sampling settings are in the
 *   file's metadata);
 * - `mnist-classifier.safetensors`: the MNIST classifier that judges samples
 *   (load with `@tarflow/classifier`'s `loadClassifier`).
 *
 * The files ship in the package's `assets/` folder. Browsers (and bundlers,
 * which understand `new URL('…', import.meta.url)`) use the URLs; Node reads
 * the bytes with {@link defaultModelBytes} / {@link classifierBytes}.
 */

/** URL of the default model file, next to this module (`../assets/`). */
export const defaultModelUrl: URL = new URL('../assets/mnist-cond.safetensors', import.meta.url);

/** URL of the MNIST classifier file. */
export const classifierUrl: URL = new URL('../assets/mnist-classifier.safetensors', import.meta.url);

/** File names of the assets inside `assets/`. */
export const ASSET_FILES = { defaultModel: 'mnist-cond.safetensors', classifier: 'mnist-classifier.safetensors' } as const;

/**
 * How the shipped default model is meant to be sampled (see docs/training.md
 * for the evaluation behind these values): the exact sequential sampler at
 * this temperature with this classifier-free guidance, then one score-based
 * denoising step. The model file records the same settings in its `sampling`
 * metadata, which `@tarflow/model`'s `loadModel` reads into
 * `model.recommended` — prefer that; this constant remains for callers that
 * want the settings without loading the model.
 */
export const DEFAULT_MODEL_SAMPLING: {
  readonly guidance: { readonly scale: number; readonly on: 'both'; readonly annealed: boolean };
  readonly temperature: number;
  readonly denoise: boolean;
} = {
  guidance: { scale: 3, on: 'both', annealed: false },
  temperature: 0.5,
  denoise: true,
};

/**
 * Reads an asset's bytes: from the file system for `file:` URLs (Node),
 * with `fetch` otherwise (browsers). Errors name the asset and its location.
 */
export async function readAsset(url: URL): Promise<Uint8Array> {
  try {
    if (url.protocol === 'file:') {
      const { readFile } = await import('node:fs/promises');
      return new Uint8Array(await readFile(url));
    }
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new Error(`@tarflow/zoo: cannot read asset ${url.href}: ${(e as Error).message}`, { cause: e });
  }
}

/** The default model's safetensors bytes (class-conditional MNIST TarFlow). */
export function defaultModelBytes(): Promise<Uint8Array> {
  return readAsset(defaultModelUrl);
}

/** The MNIST classifier's safetensors bytes. */
export function classifierBytes(): Promise<Uint8Array> {
  return readAsset(classifierUrl);
}
