/**
 * Image resampling on planar (channel-first) float images, used to bring PNG
 * folders and other datasets to a square training size.
 */

/** How to resample: `area` (box average, best for shrinking), `bilinear`, or `auto` (area when an axis shrinks, bilinear when it grows). */
export type ResizeMethod = 'auto' | 'area' | 'bilinear';

interface AxisWeights {
  /** For output i, its taps are index/weight[start[i] .. start[i+1]). */
  start: Int32Array;
  index: Int32Array;
  weight: Float64Array;
}

/**
 * Per-axis resampling taps. `area`: output pixel i covers source interval
 * [i·s, (i+1)·s) with s = inSize/outSize, and averages it with fractional
 * coverage weights. `bilinear`: half-pixel centres (like PyTorch with
 * `align_corners=false`), clamped at the borders.
 */
function axisWeights(inSize: number, outSize: number, method: 'area' | 'bilinear'): AxisWeights {
  const start = new Int32Array(outSize + 1);
  const index: number[] = [];
  const weight: number[] = [];
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    start[i] = index.length;
    if (method === 'area') {
      const lo = i * scale;
      const hi = (i + 1) * scale;
      const first = Math.floor(lo);
      const last = Math.min(Math.ceil(hi), inSize);
      for (let j = first; j < last; j++) {
        const overlap = Math.min(hi, j + 1) - Math.max(lo, j);
        if (overlap > 1e-12) {
          index.push(j);
          weight.push(overlap / scale);
        }
      }
    } else {
      let x = (i + 0.5) * scale - 0.5;
      if (x < 0) x = 0;
      if (x > inSize - 1) x = inSize - 1;
      const x0 = Math.floor(x);
      const x1 = Math.min(x0 + 1, inSize - 1);
      const f = x - x0;
      index.push(x0);
      weight.push(1 - f);
      if (f > 0 && x1 !== x0) {
        index.push(x1);
        weight.push(f);
      }
    }
  }
  start[outSize] = index.length;
  return { start, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

function pick(method: ResizeMethod, inSize: number, outSize: number): 'area' | 'bilinear' {
  if (method !== 'auto') return method;
  return outSize < inSize ? 'area' : 'bilinear';
}

/**
 * Resizes a planar image `[channels, height, width]` to `[channels, outHeight, outWidth]`
 * (separable: rows first, then columns). Returns a new array; values are not clamped
 * or quantized (area and bilinear weights are convex, so the value range is kept).
 */
export function resizePlanar(
  src: Float32Array,
  channels: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
  method: ResizeMethod = 'auto',
): Float32Array {
  checkDims('resizePlanar', src, channels, height, width);
  if (!(outHeight >= 1 && outWidth >= 1 && Number.isInteger(outHeight) && Number.isInteger(outWidth))) {
    throw new RangeError(`resizePlanar: output size must be positive integers, got ${outHeight}x${outWidth}`);
  }
  if (outHeight === height && outWidth === width) return src.slice();
  const wx = axisWeights(width, outWidth, pick(method, width, outWidth));
  const wy = axisWeights(height, outHeight, pick(method, height, outHeight));
  // Horizontal pass: [c, h, w] -> [c, h, outW]
  const tmp = new Float32Array(channels * height * outWidth);
  for (let r = 0; r < channels * height; r++) {
    const srcRow = r * width;
    const dstRow = r * outWidth;
    for (let x = 0; x < outWidth; x++) {
      let acc = 0;
      for (let k = wx.start[x]; k < wx.start[x + 1]; k++) acc += src[srcRow + wx.index[k]] * wx.weight[k];
      tmp[dstRow + x] = acc;
    }
  }
  // Vertical pass: [c, h, outW] -> [c, outH, outW]
  const out = new Float32Array(channels * outHeight * outWidth);
  for (let c = 0; c < channels; c++) {
    const srcPlane = c * height * outWidth;
    const dstPlane = c * outHeight * outWidth;
    for (let y = 0; y < outHeight; y++) {
      const dstRow = dstPlane + y * outWidth;
      for (let k = wy.start[y]; k < wy.start[y + 1]; k++) {
        const srcRow = srcPlane + wy.index[k] * outWidth;
        const w = wy.weight[k];
        for (let x = 0; x < outWidth; x++) out[dstRow + x] += tmp[srcRow + x] * w;
      }
    }
  }
  return out;
}

/**
 * Crops the centred largest square out of a planar image `[channels, height, width]`.
 * When the excess is odd, the extra row/column is dropped from the bottom/right.
 */
export function centerCropSquare(
  src: Float32Array,
  channels: number,
  height: number,
  width: number,
): { data: Float32Array; size: number } {
  checkDims('centerCropSquare', src, channels, height, width);
  const size = Math.min(height, width);
  if (size === height && size === width) return { data: src, size };
  const top = Math.floor((height - size) / 2);
  const left = Math.floor((width - size) / 2);
  const out = new Float32Array(channels * size * size);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < size; y++) {
      const from = c * height * width + (top + y) * width + left;
      out.set(src.subarray(from, from + size), c * size * size + y * size);
    }
  }
  return { data: out, size };
}

function checkDims(what: string, src: Float32Array, channels: number, height: number, width: number): void {
  if (src.length !== channels * height * width) {
    throw new RangeError(`${what}: expected ${channels}x${height}x${width} = ${channels * height * width} values, got ${src.length}`);
  }
}
