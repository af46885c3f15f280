// The gradient-health heatmap: layers (rows, input at the top) by recorded steps (columns),
// colour = log10 of the gradient norm. Drawn on a canvas from an ImageData of one pixel per
// cell, so 200 layers x 1,000 steps draw in a few milliseconds.

import { numOrNull, type StatMatrix } from "./api";
import { colorOf, colorOfLog, EXPLODED_CEIL, NONFINITE, VANISHED_FLOOR, type Scale } from "./colormap";
import { cssVar, fmt, h } from "./dom";

export interface Matrix {
  layers: string[];
  steps: number[];
  /** rows * cols values, row-major; NaN/Inf kept. */
  values: Float64Array;
  /** 1 where a value was recorded, 0 where it is missing. */
  present: Uint8Array;
}

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Decodes a /gradients matrix (either format) into typed arrays. */
export function toMatrix(layers: string[], stat: StatMatrix): Matrix {
  const cols = stat.steps.length;
  const cells = layers.length * cols;
  if (stat.format === "base64") {
    const raw = decodeBase64(stat.values);
    const present = decodeBase64(stat.present);
    if (raw.length !== cells * 4 || present.length !== cells) {
      throw new Error(`malformed matrix: ${raw.length} bytes for ${layers.length}x${cols} cells`);
    }
    const floats = new Float32Array(raw.buffer, raw.byteOffset, cells);
    return { layers, steps: stat.steps, values: Float64Array.from(floats), present };
  }
  const values = new Float64Array(cells);
  const present = new Uint8Array(cells);
  for (let r = 0; r < layers.length; r++) {
    const row = stat.values[r] ?? [];
    for (let c = 0; c < cols; c++) {
      const v = numOrNull(row[c]);
      if (v !== null) {
        values[r * cols + c] = v;
        present[r * cols + c] = 1;
      }
    }
  }
  return { layers, steps: stat.steps, values, present };
}

export interface LayerSummary {
  /** Positions 0..n-1 of the layers that have records, in the matrix's (input to output) order. */
  index: number[];
  layers: string[];
  median: number[];
  p10: number[];
  p90: number[];
  last: number[];
  max: number[];
}

function quantile(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Per-layer summary of a matrix over its finite records (layers without any are left out). */
export function summarizeLayers(m: Matrix): LayerSummary {
  const cols = m.steps.length;
  const out: LayerSummary = { index: [], layers: [], median: [], p10: [], p90: [], last: [], max: [] };
  const row = new Float64Array(cols);
  for (let r = 0; r < m.layers.length; r++) {
    let n = 0;
    let last = NaN;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (m.present[i] && Number.isFinite(m.values[i])) {
        row[n++] = m.values[i];
        last = m.values[i];
      }
    }
    if (n === 0) continue;
    const sorted = row.slice(0, n).sort();
    out.index.push(out.layers.length);
    out.layers.push(m.layers[r]);
    out.median.push(quantile(sorted, 0.5));
    out.p10.push(quantile(sorted, 0.1));
    out.p90.push(quantile(sorted, 0.9));
    out.last.push(last);
    out.max.push(sorted[n - 1]);
  }
  return out;
}

/** How far from healthy a value is, to pick the bin representative when steps outnumber pixels. */
function extremity(v: number, scale: Scale): number {
  if (!Number.isFinite(v)) return Infinity;
  if (v <= 0) return 1e9;
  const lg = Math.log10(v);
  return Math.max(scale.low - lg, lg - scale.high, 0) * 1e3 + Math.abs(lg - (scale.low + scale.high) / 2);
}

const LABEL_FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const AXIS_HEIGHT = 22;

function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max; t += step) ticks.push(t);
  return ticks;
}

function shorten(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && ctx.measureText("…" + cut).width > width) cut = cut.slice(1);
  return "…" + cut;
}

export class Heatmap {
  readonly root: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly tooltip: HTMLDivElement;
  private readonly legend: HTMLDivElement;
  private matrix: Matrix | null = null;
  private scale: Scale = { low: -7, high: 3 };
  private statLabel = "grad_norm";
  private geometry = { left: 0, top: 0, width: 0, height: 0, rowH: 1 };

  constructor() {
    this.canvas = h("canvas", { class: "heatmap-canvas", "aria-label": "gradient norm heatmap" });
    this.tooltip = h("div", { class: "tooltip", role: "tooltip" });
    this.tooltip.hidden = true;
    this.legend = h("div", { class: "heatmap-legend" });
    this.root = h("div", { class: "heatmap" }, h("div", { class: "heatmap-frame" }, this.canvas, this.tooltip), this.legend);
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => (this.tooltip.hidden = true));
  }

  setData(matrix: Matrix, scale: Scale, statLabel: string): void {
    this.matrix = matrix;
    this.scale = scale;
    this.statLabel = statLabel;
    this.drawLegend();
  }

  /** Draws at the given CSS width. */
  draw(width: number): void {
    const m = this.matrix;
    if (!m) return;
    const rows = m.layers.length;
    const cols = m.steps.length;
    const dpr = window.devicePixelRatio || 1;
    const rowH = Math.max(2, Math.min(22, Math.floor(440 / Math.max(rows, 1))));
    const plotH = rows * rowH;
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.font = LABEL_FONT;
    let labelW = 0;
    for (const name of m.layers) labelW = Math.max(labelW, ctx.measureText(name).width);
    const left = Math.ceil(Math.min(200, Math.max(60, labelW + 10)));
    const plotW = Math.max(50, width - left - 12);
    const top = 6; // room for the first row's label
    const height = top + plotH + AXIS_HEIGHT + 4;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.geometry = { left, top, width: plotW, height: plotH, rowH };

    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = LABEL_FONT;
    const fg = cssVar("--fg") || "#222";
    const missing = cssVar("--missing") || "#ccc";

    // Cells: one pixel per (row, bin) in an ImageData, scaled up without smoothing.
    const bins = Math.max(1, Math.min(cols, Math.floor(plotW * dpr)));
    const image = new ImageData(bins, Math.max(rows, 1));
    const data = image.data;
    const missingRgb = parseColor(missing);
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < bins; b++) {
        const c0 = Math.floor((b * cols) / bins);
        const c1 = Math.max(c0 + 1, Math.floor(((b + 1) * cols) / bins));
        let best = -1;
        let bestScore = -1;
        for (let c = c0; c < c1; c++) {
          const i = r * cols + c;
          if (!m.present[i]) continue;
          const score = extremity(m.values[i], this.scale);
          if (score > bestScore) {
            bestScore = score;
            best = i;
          }
        }
        const rgb = best < 0 ? missingRgb : colorOf(m.values[best], this.scale);
        const o = (r * bins + b) * 4;
        data[o] = rgb[0];
        data[o + 1] = rgb[1];
        data[o + 2] = rgb[2];
        data[o + 3] = 255;
      }
    }
    const off = document.createElement("canvas");
    off.width = bins;
    off.height = Math.max(rows, 1);
    off.getContext("2d")?.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, left, top, plotW, plotH);

    // Row labels, thinned so that they never overlap.
    ctx.fillStyle = fg;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const every = Math.max(1, Math.ceil(13 / rowH));
    for (let r = 0; r < rows; r += every) {
      ctx.fillText(shorten(ctx, m.layers[r], left - 8), left - 6, top + r * rowH + rowH / 2);
    }

    // Step axis.
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.strokeStyle = fg;
    if (cols > 0) {
      const first = m.steps[0];
      const last = m.steps[cols - 1];
      for (const t of niceTicks(first, last, Math.max(2, Math.floor(plotW / 110)))) {
        const c = lowerBound(m.steps, t);
        const x = left + ((c + 0.5) / cols) * plotW;
        ctx.beginPath();
        ctx.moveTo(x, top + plotH);
        ctx.lineTo(x, top + plotH + 4);
        ctx.stroke();
        ctx.fillText(fmt(t), x, top + plotH + 6);
      }
    }
    ctx.textAlign = "left";
    ctx.fillText("step", 2, top + plotH + 6);
  }

  private drawLegend(): void {
    const s = this.scale;
    const lo = Math.floor(s.low - VANISHED_FLOOR);
    const hi = Math.ceil(s.high + EXPLODED_CEIL);
    const w = 280;
    const bar = h("canvas", { class: "legend-bar", width: String(w), height: "12" });
    const ctx = bar.getContext("2d");
    if (ctx) {
      for (let x = 0; x < w; x++) {
        const [r, g, b] = colorOfLog(lo + ((x + 0.5) / w) * (hi - lo), s);
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect(x, 0, 1, 12);
      }
    }
    const ticks = h("div", { class: "legend-ticks" });
    const step = Math.max(1, Math.round((hi - lo) / 6));
    for (let t = lo; t <= hi; t += step) {
      const tick = h("span", { class: "legend-tick" }, `1e${t}`);
      tick.style.left = `${((t - lo) / (hi - lo)) * 100}%`;
      ticks.append(tick);
    }
    const [nr, ng, nb] = NONFINITE;
    const nonfinite = h("span", { class: "swatch" });
    nonfinite.style.background = `rgb(${nr},${ng},${nb})`;
    const absent = h("span", { class: "swatch swatch-missing" });
    this.legend.replaceChildren(
      h("span", { class: "legend-title" }, `log10 ${this.statLabel}`),
      h("span", { class: "legend-scale" }, bar, ticks),
      h(
        "span",
        { class: "legend-keys" },
        h("span", { class: "legend-key vanishing" }, `vanishing < ${fmt(Math.pow(10, s.low))}`),
        h("span", { class: "legend-key exploding" }, `exploding > ${fmt(Math.pow(10, s.high))}`),
        h("span", { class: "legend-key" }, nonfinite, "NaN/Inf"),
        h("span", { class: "legend-key" }, absent, "not recorded"),
      ),
    );
  }

  private hover(e: MouseEvent): void {
    const m = this.matrix;
    const g = this.geometry;
    if (!m || m.steps.length === 0) return;
    const rect = this.canvas.getBoundingClientRect();
    const x = e.clientX - rect.left - g.left;
    const y = e.clientY - rect.top - g.top;
    if (x < 0 || y < 0 || x >= g.width || y >= g.height) {
      this.tooltip.hidden = true;
      return;
    }
    const cols = m.steps.length;
    const r = Math.min(m.layers.length - 1, Math.floor(y / g.rowH));
    const c = Math.min(cols - 1, Math.floor((x / g.width) * cols));
    const i = r * cols + c;
    const value = m.present[i] ? m.values[i] : null;
    const lines = [
      m.layers[r],
      `step ${m.steps[c]}`,
      value === null
        ? `${this.statLabel}: not recorded`
        : `${this.statLabel} = ${fmt(value, 4)}` +
          (Number.isFinite(value) && value > 0 ? `  (log10 ${Math.log10(value).toFixed(2)})` : ""),
    ];
    this.tooltip.replaceChildren(...lines.map((line) => h("div", {}, line)));
    this.tooltip.hidden = false;
    const tipX = Math.min(e.clientX - rect.left + 14, rect.width - 230);
    this.tooltip.style.left = `${Math.max(0, tipX)}px`;
    this.tooltip.style.top = `${e.clientY - rect.top + 14}px`;
  }
}

function lowerBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function parseColor(css: string): [number, number, number] {
  const m = /^#([0-9a-f]{6})$/i.exec(css);
  if (m) {
    const n = parseInt(m[1], 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }
  const rgb = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(css);
  return rgb ? [Number(rgb[1]), Number(rgb[2]), Number(rgb[3])] : [200, 200, 200];
}
