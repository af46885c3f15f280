// The gradient-health heatmap: layers (rows, input at the top) by recorded steps (columns),
// coloured by one per-layer statistic (gradient norm, fraction of exactly-zero gradients or
// update ratio) through a ColorScale. Drawn on a canvas from an ImageData of one pixel per
// cell, so 200 layers x 1,000 steps draw in a few milliseconds.

import { numOrNull, type StatMatrix } from "./api";
import { colorAt, MOSTLY_ZERO, type ColorScale, type LegendKey, type Rgb } from "./colormap";
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
    const present = stat.present === null ? new Uint8Array(cells).fill(1) : decodeBase64(stat.present);
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

const LABEL_FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const AXIS_HEIGHT = 22;
const RANGE_ROW = 13; // height of one finding's range bar above the cells
const MAX_PLOT_HEIGHT = 440;

/** A finding's step range, drawn as a bar above the columns it covers. */
export interface StepRange {
  start: number;
  end: number;
  label: string;
  color: string;
}

/** Cells of another statistic that override the colour (layers with mostly-zero gradients). */
export interface CellMask {
  matrix: Matrix;
  threshold: number;
  key: LegendKey;
}

export interface HeatmapData {
  matrix: Matrix;
  scale: ColorScale;
  /** What the cells show, e.g. "gradient norm". */
  label: string;
  mode: string;
  mask?: CellMask;
  ranges?: StepRange[];
}

/** How round a step is: 100 > 50 > 20 > 10 > 5 > 7. */
function roundness(step: number): number {
  if (step === 0) return 100;
  let score = 0;
  let n = Math.abs(step);
  while (n % 10 === 0) {
    score += 3;
    n /= 10;
  }
  if (n % 5 === 0) score += 2;
  else if (n % 2 === 0) score += 1;
  return score;
}

function shorten(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) return text;
  let cut = text;
  while (cut.length > 1 && ctx.measureText("…" + cut).width > width) cut = cut.slice(1);
  return "…" + cut;
}

function hatch(ctx: CanvasRenderingContext2D, color: string): CanvasPattern | string {
  const tile = document.createElement("canvas");
  tile.width = 6;
  tile.height = 6;
  const t = tile.getContext("2d");
  if (!t) return color;
  t.strokeStyle = color;
  t.lineWidth = 1.5;
  t.beginPath();
  t.moveTo(0, 6);
  t.lineTo(6, 0);
  t.stroke();
  return ctx.createPattern(tile, "repeat") ?? color;
}

export class Heatmap {
  readonly root: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly frame: HTMLDivElement;
  private readonly tooltip: HTMLDivElement;
  private readonly legend: HTMLDivElement;
  private data: HeatmapData | null = null;
  private maskColumns: Int32Array | null = null;
  private geometry = { left: 0, top: 0, width: 0, height: 0, rowH: 1 };

  constructor(controls?: HTMLElement) {
    this.canvas = h("canvas", { class: "heatmap-canvas", role: "img", "aria-label": "gradient health heatmap" });
    this.tooltip = h("div", { class: "tooltip", role: "tooltip" });
    this.tooltip.hidden = true;
    this.legend = h("div", { class: "heatmap-legend" });
    // Controls and legend above the cells: the tooltip stays inside the frame below them.
    this.frame = h("div", { class: "heatmap-frame" }, this.canvas, this.tooltip);
    this.root = h(
      "div",
      { class: "heatmap" },
      h("div", { class: "heatmap-bar" }, controls ?? null, this.legend),
      this.frame,
    );
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("mouseleave", () => (this.tooltip.hidden = true));
  }

  setData(data: HeatmapData): void {
    this.data = data;
    this.canvas.dataset.mode = data.mode;
    this.canvas.setAttribute("aria-label", `heatmap of the ${data.label} per layer and step`);
    this.maskColumns = null;
    if (data.mask) {
      const index = new Map<number, number>();
      data.mask.matrix.steps.forEach((step, i) => index.set(step, i));
      this.maskColumns = Int32Array.from(data.matrix.steps, (step) => index.get(step) ?? -1);
    }
    this.drawLegend();
  }

  /** The colour of one cell, or null where nothing was recorded. */
  private cellColor(r: number, c: number): Rgb | null {
    const d = this.data as HeatmapData;
    const m = d.matrix;
    const i = r * m.steps.length + c;
    if (!m.present[i]) return null;
    const value = m.values[i];
    const mask = d.mask;
    if (mask && this.maskColumns && value !== 0 && Number.isFinite(value)) {
      const mc = this.maskColumns[c];
      const mm = mask.matrix;
      const j = r * mm.steps.length + mc;
      if (mc >= 0 && r < mm.layers.length && mm.present[j] && mm.values[j] >= mask.threshold) {
        return mask.key.color ?? MOSTLY_ZERO;
      }
    }
    return d.scale.color(value);
  }

  /** Draws at the given CSS width. */
  draw(width: number): void {
    const d = this.data;
    if (!d) return;
    const m = d.matrix;
    const rows = m.layers.length;
    const cols = m.steps.length;
    const dpr = window.devicePixelRatio || 1;
    const rowH = Math.max(2, Math.min(18, MAX_PLOT_HEIGHT / Math.max(rows, 1)));
    const plotH = Math.round(rows * rowH);
    const ranges = d.ranges ?? [];
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.font = LABEL_FONT;
    let labelW = 0;
    for (const name of m.layers) labelW = Math.max(labelW, ctx.measureText(name).width);
    for (const range of ranges) labelW = Math.max(labelW, ctx.measureText(range.label).width);
    const left = Math.ceil(Math.min(200, Math.max(60, labelW + 10)));
    const plotW = Math.max(50, width - left - 12);
    const top = 6 + ranges.length * RANGE_ROW; // room for the range bars and the first label
    const height = top + plotH + AXIS_HEIGHT + 4;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.geometry = { left, top, width: plotW, height: plotH, rowH: plotH / Math.max(rows, 1) };

    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = LABEL_FONT;
    const fg = cssVar("--fg") || "#222";

    // "Not recorded" is hatched, so it cannot be read as a colour of the scale.
    ctx.fillStyle = hatch(ctx, cssVar("--missing-line") || "#b8bcc2");
    ctx.fillRect(left, top, plotW, plotH);

    // Cells: one pixel per (row, bin) in an ImageData, scaled up without smoothing. When steps
    // outnumber pixels, a bin shows its most extreme record, so a one-step spike stays visible.
    const bins = Math.max(1, Math.min(cols, Math.floor(plotW * dpr)));
    const image = new ImageData(bins, Math.max(rows, 1));
    const px = image.data;
    for (let r = 0; r < rows; r++) {
      for (let b = 0; b < bins; b++) {
        const c0 = Math.floor((b * cols) / bins);
        const c1 = Math.max(c0 + 1, Math.floor(((b + 1) * cols) / bins));
        let best = -1;
        let bestScore = -1;
        for (let c = c0; c < c1; c++) {
          const i = r * cols + c;
          if (!m.present[i]) continue;
          const score = d.scale.extremity(m.values[i]);
          if (score > bestScore) {
            bestScore = score;
            best = c;
          }
        }
        const rgb = best < 0 ? null : this.cellColor(r, best);
        const o = (r * bins + b) * 4;
        if (rgb) {
          px[o] = rgb[0];
          px[o + 1] = rgb[1];
          px[o + 2] = rgb[2];
          px[o + 3] = 255;
        }
      }
    }
    const off = document.createElement("canvas");
    off.width = bins;
    off.height = Math.max(rows, 1);
    off.getContext("2d")?.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, left, top, plotW, plotH);

    const colX = (c: number): number => left + (c / Math.max(cols, 1)) * plotW;

    // The findings' step ranges, one bar each, over the columns they cover.
    ctx.textBaseline = "middle";
    ranges.forEach((range, k) => {
      const y = 4 + k * RANGE_ROW;
      const c0 = lowerBound(m.steps, range.start);
      const c1 = Math.max(c0, upperBound(m.steps, range.end) - 1);
      const x0 = colX(c0);
      const x1 = Math.max(x0 + 3, colX(c1 + 1));
      ctx.fillStyle = range.color;
      ctx.fillRect(x0, y + 3, x1 - x0, 5);
      ctx.fillStyle = fg;
      ctx.textAlign = "right";
      ctx.fillText(shorten(ctx, range.label, left - 8), left - 6, y + 5.5);
    });

    // Row labels, thinned so that they never overlap.
    ctx.fillStyle = fg;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const every = Math.max(1, Math.ceil(13 / this.geometry.rowH));
    for (let r = 0; r < rows; r += every) {
      ctx.fillText(shorten(ctx, m.layers[r], left - 8), left - 6, top + (r + 0.5) * this.geometry.rowH);
    }

    // Step axis. Columns are records, not to scale (records are denser early in training), so
    // each tick sits at the column of its step; ticks are dropped where they would overlap.
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.strokeStyle = fg;
    if (cols > 0) {
      const colW = plotW / cols;
      const every = Math.max(1, Math.ceil(70 / colW)); // a label about every 70 px
      const placed: { x: number; w: number }[] = [];
      const fits = (x: number, w: number): boolean =>
        x + w / 2 <= left + plotW + 12 && placed.every((p) => Math.abs(p.x - x) >= (p.w + w) / 2 + 12);
      const tick = (c: number): void => {
        const x = left + (c + 0.5) * colW;
        const label = fmt(m.steps[c]);
        const w = ctx.measureText(label).width;
        if (!fits(x, w)) return;
        placed.push({ x, w });
        ctx.beginPath();
        ctx.moveTo(x, top + plotH);
        ctx.lineTo(x, top + plotH + 4);
        ctx.stroke();
        ctx.fillText(label, x, top + plotH + 6);
      };
      // The first and the last record, then one per stretch of `every` columns: the column
      // in it whose step is roundest (20 before 17), so the labels read as round numbers.
      tick(0);
      if (cols > 1) tick(cols - 1);
      for (let c0 = every; c0 < cols - 1; c0 += every) {
        let best = c0;
        for (let c = Math.max(1, c0 - (every >> 1)); c < Math.min(cols - 1, c0 + (every >> 1) + 1); c++) {
          if (roundness(m.steps[c]) > roundness(m.steps[best])) best = c;
        }
        tick(best);
      }
    }
    ctx.textAlign = "left";
    ctx.fillText("step", 2, top + plotH + 6);
  }

  private drawLegend(): void {
    const d = this.data as HeatmapData;
    const legend = d.scale.legend;
    const w = 240;
    const bar = h("canvas", { class: "legend-bar", width: String(w), height: "12" });
    const ctx = bar.getContext("2d");
    if (ctx) {
      for (let x = 0; x < w; x++) {
        const [r, g, b] = colorAt(d.scale, legend.min + ((x + 0.5) / w) * (legend.max - legend.min));
        ctx.fillStyle = `rgb(${r},${g},${b})`;
        ctx.fillRect(x, 0, 1, 12);
      }
    }
    const pos = (at: number): string => `${((at - legend.min) / (legend.max - legend.min)) * 100}%`;
    const ticks = h("div", { class: "legend-ticks" });
    for (const t of legend.ticks) {
      const tick = h("span", { class: "legend-tick" }, t.label);
      tick.style.left = pos(t.at);
      ticks.append(tick);
    }
    const scale = h("span", { class: "legend-scale" }, bar, ticks);
    if (legend.bracket) {
      const bracket = h("span", { class: "legend-bracket", title: legend.bracket.label });
      bracket.style.left = pos(legend.bracket.from);
      bracket.style.width = `calc(${pos(legend.bracket.to)} - ${pos(legend.bracket.from)})`;
      scale.append(bracket);
    }
    const keys = [...legend.keys];
    if (d.mask) keys.splice(2, 0, d.mask.key);
    this.legend.replaceChildren(
      h("span", { class: "legend-title" }, legend.log ? `log10 ${legend.title}` : legend.title),
      scale,
      h(
        "span",
        { class: "legend-keys" },
        ...keys.map((key) => {
          let swatch: HTMLElement | null = null;
          if (key.swatch === "missing") swatch = h("span", { class: "swatch swatch-missing" });
          else if (key.color) {
            swatch = h("span", { class: "swatch" });
            swatch.style.background = `rgb(${key.color.join(",")})`;
          }
          const attrs: Record<string, string> = { class: `legend-key ${key.className ?? ""}`.trim() };
          if (key.title) attrs.title = key.title;
          return h("span", attrs, swatch, key.label);
        }),
      ),
    );
  }

  private hover(e: MouseEvent): void {
    const d = this.data;
    const g = this.geometry;
    if (!d || d.matrix.steps.length === 0) return;
    const m = d.matrix;
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
    const lines = [m.layers[r], `step ${m.steps[c]}`, `${d.label}: ${value === null ? "not recorded" : d.scale.format(value)}`];
    if (d.mask && this.maskColumns && this.maskColumns[c] >= 0) {
      const mm = d.mask.matrix;
      const j = r * mm.steps.length + this.maskColumns[c];
      if (r < mm.layers.length && mm.present[j] && Number.isFinite(mm.values[j])) {
        lines.push(`gradients exactly 0: ${Number((mm.values[j] * 100).toPrecision(3))}%`);
      }
    }
    this.tooltip.replaceChildren(...lines.map((line) => h("div", {}, line)));
    this.tooltip.hidden = false;
    // Inside the cells' frame, never over the legend above it: right of and below the
    // pointer, flipped left or up where it would not fit.
    const frame = this.frame.getBoundingClientRect();
    const tipW = this.tooltip.offsetWidth;
    const tipH = this.tooltip.offsetHeight;
    const px = e.clientX - frame.left;
    const py = e.clientY - frame.top;
    let left = px + 14;
    if (left + tipW > frame.width) left = px - 14 - tipW;
    let top = py + 14;
    if (top + tipH > frame.height) top = py - 14 - tipH;
    this.tooltip.style.left = `${Math.max(0, Math.min(left, frame.width - tipW))}px`;
    this.tooltip.style.top = `${Math.max(0, Math.min(top, frame.height - tipH))}px`;
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

function upperBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
