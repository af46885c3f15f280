// Charts on uPlot: lines over steps or epochs (the losses with the findings' ranges shaded,
// the metrics), and per-layer charts (update-to-weight ratio, dead units) where each layer is
// a category: points with whiskers, never lines joining one layer to the next.

import uPlot from "uplot";
import { num, type Num } from "./api";
import { cssVar, fmt, h } from "./dom";

export interface LineSeries {
  label: string;
  steps: number[];
  values: Num[];
  color: string;
  width?: number;
  dash?: number[];
  /** Draw the points (default: when there are fewer than 60). */
  points?: boolean;
  /** Points only, no line: for categories. */
  pointsOnly?: boolean;
  /** Neither line nor points (drawn as a whisker end, or only named in the legend). */
  hidden?: boolean;
  /** On a log scale, mark values of exactly 0 at the bottom of the plot instead of dropping them. */
  markZeros?: boolean;
}

export interface Shade {
  start: number;
  end: number;
  color: string;
  label: string;
}

/** A mark above the plot at one x (a step or an epoch), with its words as the tooltip. */
export interface Marker {
  x: number;
  label: string;
  color: string;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  /** "log" forces a log y scale, "auto" picks it when the positive values span > 3 decades. */
  yScale?: "linear" | "log" | "auto";
  yRange?: [number, number];
  shades?: Shade[];
  /** A shaded horizontal band, e.g. the typical range. */
  band?: { low: number; high: number; label: string; danger?: boolean };
  /** Dashed horizontal lines, e.g. where the diagnosis flags a value. */
  lines?: { value: number; label: string }[];
  /** Names of the x positions 0..n-1 (layers): each is a category. */
  categories?: string[];
  /** Whiskers between two series (0-based indices into `series`), at every x. */
  whiskers?: { low: number; high: number; color: string };
  /** x values are whole numbers (epochs, steps): ticks only at integers. */
  integerX?: boolean;
  /** Marks above the plot (what the callback said while training, where it said it). */
  markers?: Marker[];
  height?: number;
  /** Shown under the chart. */
  note?: string;
}

interface Aligned {
  xs: number[];
  ys: (number | null)[][];
  /** The values as recorded (NaN, Inf and 0 included; null where none), for the legend. */
  raw: (number | null)[][];
  nonFinite: number[];
  zeros: number[][];
}

function align(series: LineSeries[], log: boolean): Aligned {
  const all = new Set<number>();
  for (const s of series) for (const x of s.steps) all.add(x);
  const xs = Array.from(all).sort((a, b) => a - b);
  const index = new Map<number, number>();
  xs.forEach((x, i) => index.set(x, i));
  const nonFinite = new Set<number>();
  const zeros: number[][] = [];
  const raw: (number | null)[][] = [];
  const ys = series.map((s) => {
    const ys: (number | null)[] = new Array(xs.length).fill(null);
    const rs: (number | null)[] = new Array(xs.length).fill(null);
    const zs: number[] = [];
    for (let i = 0; i < s.steps.length; i++) {
      const v = s.values[i];
      if (v === null || v === undefined) continue;
      const n = num(v);
      const at = index.get(s.steps[i]) as number;
      rs[at] = n;
      if (!Number.isFinite(n)) nonFinite.add(s.steps[i]);
      else if (log && n <= 0) zs.push(at);
      else ys[at] = n;
    }
    zeros.push(zs);
    raw.push(rs);
    return ys;
  });
  return { xs, ys, raw, zeros, nonFinite: Array.from(nonFinite).sort((a, b) => a - b) };
}

function wantsLog(spec: ChartSpec): boolean {
  if (spec.yScale === "log") return true;
  if (spec.yScale !== "auto") return false;
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of spec.series) {
    for (const v of s.values) {
      if (v === null) continue;
      const n = num(v);
      if (!Number.isFinite(n)) continue;
      if (n <= 0) return false;
      lo = Math.min(lo, n);
      hi = Math.max(hi, n);
    }
  }
  return hi / lo > 1e3;
}

const INTEGER_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];

export class LineChart {
  readonly root: HTMLElement;
  private readonly plotHost: HTMLDivElement;
  private plot: uPlot | null = null;
  private empty = false;

  constructor(private readonly spec: ChartSpec) {
    this.plotHost = h("div", { class: "chart-plot" });
    this.root = h(
      "figure",
      { class: "chart" },
      h("figcaption", {}, spec.title),
      this.plotHost,
      spec.note ? h("p", { class: "chart-note muted" }, spec.note) : null,
    );
    this.root.dataset.shades = JSON.stringify((spec.shades ?? []).map((s) => ({ label: s.label, start: s.start, end: s.end })));
    if (spec.markers?.length) this.root.dataset.markers = JSON.stringify(spec.markers.map((m) => ({ x: m.x, label: m.label })));
  }

  draw(width: number): void {
    if (this.plot) {
      this.plot.setSize({ width, height: this.spec.height ?? 240 });
      return;
    }
    const spec = this.spec;
    const log = wantsLog(spec);
    const data = align(spec.series, log);
    const { xs, ys, raw, nonFinite, zeros } = data;
    if (!this.empty && ys.every((row) => row.every((v) => v === null)) && zeros.every((z) => z.length === 0)) {
      // Nothing finite to plot (e.g. a loss that was NaN from the start): say so instead.
      this.empty = true;
      this.plotHost.append(
        h(
          "p",
          { class: "chart-empty" },
          nonFinite.length
            ? `Every recorded value is NaN or Inf (${nonFinite.length} ${spec.xLabel}s, from ${spec.xLabel} ${fmt(nonFinite[0])}).`
            : "No values recorded.",
        ),
        // The marks cannot be drawn without a plot: what they say, in words.
        ...(spec.markers ?? []).map((m) => h("p", { class: "chart-empty-live" }, `▼ ${m.label.split("\n").join("; ")}`)),
      );
    }
    if (this.empty) return;
    const fg = cssVar("--fg") || "#222";
    const grid = cssVar("--grid") || "rgba(0,0,0,0.08)";
    const axis = (label: string): uPlot.Axis => ({
      stroke: fg,
      label,
      labelSize: 18,
      labelFont: "12px system-ui, sans-serif",
      font: "11px system-ui, sans-serif",
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
    });
    const yAxis = axis(spec.yLabel);
    yAxis.size = 60;
    if (log) {
      // Decades only: uPlot's default log ticks (1..9 per decade) crowd a tall range.
      yAxis.splits = (_u, _i, min, max) => {
        const lo = Math.ceil(Math.log10(min) - 1e-9);
        const hi = Math.floor(Math.log10(max) + 1e-9);
        const every = Math.max(1, Math.ceil((hi - lo) / 6));
        const out: number[] = [];
        for (let e = lo; e <= hi; e += every) out.push(Math.pow(10, e));
        return out;
      };
      yAxis.filter = (_u, splits) => splits;
      yAxis.values = (_u, splits) => splits.map((v) => (v > 0 ? `1e${Math.round(Math.log10(v))}` : ""));
    } else {
      yAxis.values = (_u, splits) => splits.map((v) => fmt(v, 2));
    }
    const names = spec.categories;
    const xAxis = axis(spec.xLabel);
    if (names) {
      // Few layers: name them (last path component); many: number them (the legend names them).
      const few = names.length <= 12;
      xAxis.values = (_u, splits) =>
        splits.map((v) => (!Number.isInteger(v) ? "" : few ? ((names[v] ?? "").split("/").pop() ?? "") : String(v)));
      xAxis.incrs = INTEGER_INCRS;
      if (few) xAxis.splits = () => names.map((_n, i) => i);
    } else if (spec.integerX) {
      xAxis.incrs = INTEGER_INCRS;
      xAxis.values = (_u, splits) => {
        const labels = splits.map((v) => (Number.isInteger(v) ? String(v) : ""));
        this.root.dataset.xTicks = JSON.stringify(labels); // what the axis reads, for tests
        return labels;
      };
    }
    const bandLines = [...(spec.band ? [spec.band.low, spec.band.high] : []), ...(spec.lines ?? []).map((l) => l.value)];
    const opts: uPlot.Options = {
      width,
      height: spec.height ?? 240,
      legend: { show: true, live: true },
      cursor: { drag: { x: !names, y: false } },
      scales: {
        x: names ? { time: false, range: () => [-0.5, names.length - 0.5] } : { time: false },
        y: log
          ? {
              distr: 3,
              log: 10,
              // Whole decades that hold every value (the percentiles included) and the band.
              range: (_u, min, max) => {
                const lo = Math.min(min, ...bandLines.filter((v) => v > 0));
                const hi = Math.max(max, ...bandLines.filter((v) => v > 0));
                const a = Math.pow(10, Math.floor(Math.log10(lo > 0 ? lo : 1e-12) - 1e-9));
                let b = Math.pow(10, Math.ceil(Math.log10(hi > 0 ? hi : 1) + 1e-9));
                if (!(b > a)) b = a * 10;
                return [a, b];
              },
            }
          : spec.yRange
            ? { range: () => spec.yRange as [number, number] }
            : {},
      },
      axes: [xAxis, yAxis],
      series: [
        {
          label: spec.xLabel,
          value: names ? (_u, v) => (v === null || v === undefined ? "—" : (names[v] ?? String(v))) : undefined,
        },
        ...spec.series.map((s, si): uPlot.Series => {
          const showPoints = !s.hidden && (s.pointsOnly || (s.points ?? xs.length < 60));
          return {
            label: s.label,
            stroke: s.color,
            width: s.width ?? 1.5,
            dash: s.dash,
            spanGaps: true,
            paths: s.hidden || s.pointsOnly ? () => null : undefined,
            points: showPoints
              ? { show: true, size: s.pointsOnly ? 8 : 5, fill: s.pointsOnly ? s.color : undefined }
              : { show: false },
            // The recorded value, 0 and NaN included, not the plotted one.
            value: (_u, _v, _s, idx) => (idx === null ? "—" : fmt(raw[si][idx], 4)), // fmt(null) is "—"
          };
        }),
      ],
      hooks: {
        drawClear: [(u) => this.drawBackground(u, nonFinite)],
        draw: [(u) => this.drawOverlay(u, zeros), (u) => this.placeMarkers(u)],
      },
    };
    this.plot = new uPlot(opts, [xs, ...ys] as uPlot.AlignedData, this.plotHost);
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }

  private drawBackground(u: uPlot, nonFinite: number[]): void {
    const ctx = u.ctx;
    const dpr = devicePixelRatio;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    const band = this.spec.band;
    if (band) {
      const y0 = u.valToPos(band.high, "y", true);
      const y1 = u.valToPos(band.low, "y", true);
      ctx.fillStyle = cssVar(band.danger ? "--shade-error" : "--band") || "rgba(40,160,80,0.15)";
      ctx.fillRect(left, Math.min(y0, y1), width, Math.abs(y1 - y0));
      ctx.fillStyle = cssVar(band.danger ? "--error" : "--band-text") || "#2a7";
      ctx.fillText(band.label, left + 6 * dpr, Math.max(Math.min(y0, y1), top) + 13 * dpr);
    }
    for (const line of this.spec.lines ?? []) {
      const y = u.valToPos(line.value, "y", true);
      ctx.strokeStyle = cssVar("--muted") || "#666";
      ctx.setLineDash([4 * dpr, 3 * dpr]);
      ctx.lineWidth = dpr;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = cssVar("--muted") || "#666";
      const text = ctx.measureText(line.label).width;
      ctx.fillText(line.label, left + width - text - 6 * dpr, y - 3 * dpr);
    }
    // The findings' ranges, as the diagnosis gives them (step_start..step_end), labelled.
    for (const shade of this.spec.shades ?? []) {
      let x0 = u.valToPos(shade.start, "x", true);
      let x1 = u.valToPos(shade.end, "x", true);
      if (x1 - x0 < 3 * dpr) {
        const mid = (x0 + x1) / 2;
        x0 = mid - 1.5 * dpr;
        x1 = mid + 1.5 * dpr;
      }
      ctx.fillStyle = shade.color;
      ctx.fillRect(x0, top, x1 - x0, height);
    }
    if (nonFinite.length) {
      ctx.fillStyle = "rgb(214,0,214)";
      for (const x of nonFinite) {
        const px = u.valToPos(x, "x", true);
        ctx.fillRect(px - 1.5 * dpr, top, 3 * dpr, 6 * dpr);
      }
    }
    ctx.restore();
  }

  /** The markers as elements over the plot (so that each has its own tooltip), placed again
   * at every redraw (a zoom, a resize); those outside the shown x range are hidden. */
  private placeMarkers(u: uPlot): void {
    for (const old of Array.from(u.over.querySelectorAll(".chart-marker"))) old.remove();
    const width = u.over.clientWidth;
    for (const m of this.spec.markers ?? []) {
      const left = u.valToPos(m.x, "x");
      if (!Number.isFinite(left) || left < -0.5 || left > width + 0.5) continue;
      const mark = h(
        "div",
        { class: "chart-marker", title: m.label, "aria-label": m.label, role: "img", "data-x": String(m.x) },
        h("span", { class: "chart-marker-head" }),
      );
      mark.style.left = `${left}px`;
      mark.style.setProperty("--marker", m.color);
      u.over.append(mark);
    }
  }

  private drawOverlay(u: uPlot, zeros: number[][]): void {
    const ctx = u.ctx;
    const dpr = devicePixelRatio;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left - 6 * dpr, top, width + 12 * dpr, height);
    ctx.clip();
    const w = this.spec.whiskers;
    if (w) {
      // Percentile whiskers: a vertical line with caps from the low series to the high one.
      const lo = u.data[w.low + 1];
      const hi = u.data[w.high + 1];
      const lowZero = new Set(zeros[w.low]);
      ctx.strokeStyle = w.color;
      ctx.lineWidth = 1.5 * dpr;
      for (let i = 0; i < u.data[0].length; i++) {
        const a = lo[i];
        const b = hi[i];
        if (b === null || b === undefined) continue;
        const bottom = (a === null || a === undefined) && lowZero.has(i); // 10th percentile 0
        if (!bottom && (a === null || a === undefined)) continue;
        const x = u.valToPos(u.data[0][i], "x", true);
        const ya = bottom ? top + height : u.valToPos(a as number, "y", true);
        const yb = u.valToPos(b, "y", true);
        ctx.beginPath();
        ctx.moveTo(x, ya);
        ctx.lineTo(x, yb);
        ctx.moveTo(x - 4 * dpr, ya);
        ctx.lineTo(x + 4 * dpr, ya);
        ctx.moveTo(x - 4 * dpr, yb);
        ctx.lineTo(x + 4 * dpr, yb);
        ctx.stroke();
      }
    }
    // Exactly 0 cannot sit on a log axis: a triangle on the bottom edge says "0 here".
    this.spec.series.forEach((s, si) => {
      if (!s.markZeros) return;
      ctx.fillStyle = s.color;
      for (const i of zeros[si]) {
        const x = u.valToPos(u.data[0][i], "x", true);
        const y = top + height;
        ctx.beginPath();
        ctx.moveTo(x, y - 9 * dpr);
        ctx.lineTo(x - 5 * dpr, y);
        ctx.lineTo(x + 5 * dpr, y);
        ctx.closePath();
        ctx.fill();
      }
    });
    ctx.restore();
  }
}
