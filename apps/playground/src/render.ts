/** DOM and canvas drawing for the playground: image grids, residual charts, small elements. */
import type { ModuleReport } from '@tarflow/solvers';
import type { Images } from './protocol.js';

type Child = Node | string | number | null | undefined | false;

/** document.createElement with attributes (class, id, data-*, …) and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** Colours of blocks, in sampling order (cycled). */
export const BLOCK_COLOURS = ['#4f7cff', '#f08c2e', '#2fb37a', '#d94f70', '#8e6bd9', '#c9a227', '#2ab3c9', '#7a8599'];

export function blockColour(k: number): string {
  return BLOCK_COLOURS[k % BLOCK_COLOURS.length];
}

/**
 * Draws images [B, C, H, W] with values in [-1, 1] as a grid at their native
 * resolution (1 px padding); CSS scales the canvas up with pixelated
 * rendering. `scale` sets the displayed size, or its largest value when
 * `fitWidth` (CSS pixels) asks for the largest whole scale that fits.
 */
export function drawImages(canvas: HTMLCanvasElement, images: Images, options: { columns?: number; scale?: number; fitWidth?: number } = {}): void {
  const [B, C, H, W] = images.shape;
  const cols = Math.max(1, Math.min(B, options.columns ?? 8));
  const rows = Math.ceil(B / cols);
  const pad = 1;
  canvas.width = cols * (W + pad) + pad;
  canvas.height = rows * (H + pad) + pad;
  const scale = options.fitWidth ? Math.max(1, Math.min(options.scale ?? 8, Math.floor(options.fitWidth / canvas.width))) : (options.scale ?? 4);
  canvas.style.width = `${canvas.width * scale}px`;
  canvas.style.height = 'auto';
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const img = ctx.createImageData(canvas.width, canvas.height);
  const px = img.data;
  for (let i = 0; i < px.length; i += 4) {
    px[i] = 40;
    px[i + 1] = 44;
    px[i + 2] = 52;
    px[i + 3] = 255;
  }
  const byte = (v: number) => (Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round((v + 1) * 127.5))) : 0);
  const plane = H * W;
  for (let b = 0; b < B; b++) {
    const x0 = pad + (b % cols) * (W + pad);
    const y0 = pad + Math.floor(b / cols) * (H + pad);
    const base = b * C * plane;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const o = ((y0 + y) * canvas.width + x0 + x) * 4;
        const at = base + y * W + x;
        const r = byte(images.data[at]);
        px[o] = r;
        px[o + 1] = C >= 3 ? byte(images.data[at + plane]) : r;
        px[o + 2] = C >= 3 ? byte(images.data[at + 2 * plane]) : r;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/**
 * Residual max|x⁽ᵏ⁺¹⁾ − x⁽ᵏ⁾| per iteration of one block, on a log scale, modules
 * one after another (dashed separators), the tolerance as a dotted line.
 */
export function residualChart(modules: ModuleReport[], colour: string, tolerance?: number): Element {
  const points: Array<{ i: number; r: number; m: number }> = [];
  modules.forEach((mod, m) => mod.residuals.forEach((r) => points.push({ i: points.length, r, m })));
  if (points.length === 0) return el('span', { class: 'muted small' }, 'exact loop (no iterations)');
  const width = 180;
  const height = 44;
  const padX = 3;
  const padY = 4;
  const logs = points.map((p) => Math.log10(Math.max(p.r, 1e-12)));
  const tolLog = tolerance !== undefined && tolerance > 0 ? Math.log10(tolerance) : undefined;
  let lo = Math.min(...logs, tolLog ?? Infinity);
  let hi = Math.max(...logs, tolLog ?? -Infinity);
  if (hi - lo < 1) {
    lo -= 0.5;
    hi += 0.5;
  }
  const xOf = (i: number) => padX + (points.length === 1 ? (width - 2 * padX) / 2 : (i * (width - 2 * padX)) / (points.length - 1));
  const yOf = (l: number) => padY + ((hi - l) * (height - 2 * padY)) / (hi - lo);
  const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'residuals' });
  const title = svg('title', {});
  title.textContent = modules
    .map((mod, m) => `module ${m + 1} [${mod.start}…${mod.end}]: ${mod.residuals.map((r) => r.toExponential(1)).join(', ')}${mod.fallback ? ` (fallback: ${mod.fallback.reason})` : ''}`)
    .join('\n');
  root.append(title);
  root.append(svg('rect', { x: 0, y: 0, width, height, class: 'frame' }));
  if (tolLog !== undefined) root.append(svg('line', { x1: padX, x2: width - padX, y1: yOf(tolLog), y2: yOf(tolLog), class: 'tolerance' }));
  for (let k = 1; k < points.length; k++) {
    if (points[k].m !== points[k - 1].m) {
      const x = (xOf(k) + xOf(k - 1)) / 2;
      root.append(svg('line', { x1: x, x2: x, y1: 1, y2: height - 1, class: 'module-sep' }));
    }
  }
  // One polyline per module, so the line breaks at module boundaries.
  modules.forEach((_, m) => {
    const pts = points.filter((p) => p.m === m);
    if (pts.length === 0) return;
    root.append(
      svg('polyline', {
        points: pts.map((p) => `${xOf(p.i).toFixed(1)},${yOf(logs[p.i]).toFixed(1)}`).join(' '),
        fill: 'none',
        stroke: colour,
        'stroke-width': 1.5,
      }),
    );
    for (const p of pts) root.append(svg('circle', { cx: xOf(p.i), cy: yOf(logs[p.i]), r: 1.6, fill: colour }));
  });
  const wrap = el('span', { class: 'chart' });
  wrap.append(root, el('span', { class: 'chart-range small muted' }, `1e${Math.round(hi)} … 1e${Math.round(lo)}`));
  return wrap;
}

/** Milliseconds as '850 ms' or '13.6 s'. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** A number in short scientific or fixed notation. */
export function formatNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-2 && a < 1e4 ? x.toPrecision(3) : x.toExponential(2);
}
