// Line charts on uPlot: the loss chart (with the findings' step ranges shaded), the per-layer
// update-to-weight ratio (with the healthy band) and the dead-unit fractions.

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
  points?: boolean;
}

export interface Shade {
  start: number;
  end: number;
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
  band?: { low: number; high: number; label: string; danger?: boolean };
  /** Names of the x positions 0..n-1 (layers): the legend shows the name under the cursor. */
  xNames?: string[];
  /** Fills between two series (1-based indices into `series`, as uPlot counts them). */
  fill?: { between: [number, number]; color: string };
  height?: number;
}

interface Aligned {
  xs: number[];
  ys: (number | null)[][];
  nonFinite: number[];
}

function align(series: LineSeries[]): Aligned {
  const all = new Set<number>();
  for (const s of series) for (const x of s.steps) all.add(x);
  const xs = Array.from(all).sort((a, b) => a - b);
  const index = new Map<number, number>();
  xs.forEach((x, i) => index.set(x, i));
  const nonFinite = new Set<number>();
  const ys = series.map((s) => {
    const ys: (number | null)[] = new Array(xs.length).fill(null);
    for (let i = 0; i < s.steps.length; i++) {
      const v = s.values[i];
      if (v === null || v === undefined) continue;
      const n = num(v);
      if (Number.isFinite(n)) ys[index.get(s.steps[i]) as number] = n;
      else nonFinite.add(s.steps[i]);
    }
    return ys;
  });
  return { xs, ys, nonFinite: Array.from(nonFinite).sort((a, b) => a - b) };
}

function wantsLog(spec: ChartSpec, ys: (number | null)[][]): boolean {
  if (spec.yScale === "log") return true;
  if (spec.yScale !== "auto") return false;
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of ys) {
    for (const v of row) {
      if (v === null) continue;
      if (v <= 0) return false;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  return hi / lo > 1e3;
}

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
    );
  }

  draw(width: number): void {
    if (this.plot) {
      this.plot.setSize({ width, height: this.spec.height ?? 240 });
      return;
    }
    const spec = this.spec;
    const { xs, ys, nonFinite } = align(spec.series);
    if (!this.empty && ys.every((row) => row.every((v) => v === null))) {
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
      );
    }
    if (this.empty) return;
    const log = wantsLog(spec, ys);
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
      yAxis.values = (_u, splits) =>
        splits.map((v) => (v > 0 ? `1e${Math.round(Math.log10(v))}` : ""));
    } else {
      yAxis.values = (_u, splits) => splits.map((v) => fmt(v, 2));
    }
    const names = spec.xNames;
    const xAxis = axis(spec.xLabel);
    if (names) {
      // Few layers: name them (last path component); many: number them (the legend names them).
      const few = names.length <= 12;
      xAxis.values = (_u, splits) =>
        splits.map((v) =>
          !Number.isInteger(v) ? "" : few ? (names[v] ?? "").split("/").pop() ?? "" : String(v),
        );
      if (few) xAxis.splits = () => names.map((_n, i) => i);
    }
    const opts: uPlot.Options = {
      width,
      height: spec.height ?? 240,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      scales: {
        x: { time: false },
        y: log
          ? {
              distr: 3,
              log: 10,
              // Decades that hold the data and, when drawn, the whole band.
              range: (_u, min, max) => {
                const lo = spec.band ? Math.min(min, spec.band.low) : min;
                const hi = spec.band ? Math.max(max, spec.band.high) : max;
                const a = Math.pow(10, Math.floor(Math.log10(lo > 0 ? lo : 1e-12)));
                let b = Math.pow(10, Math.ceil(Math.log10(hi > 0 ? hi : 1)));
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
        ...spec.series.map(
          (s): uPlot.Series => ({
            label: s.label,
            stroke: s.color,
            width: s.width ?? 1.5,
            dash: s.dash,
            spanGaps: true,
            points: { show: s.points ?? xs.length < 60 },
            value: (_u, v) => fmt(v, 4),
          }),
        ),
      ],
      bands: spec.fill ? [{ series: spec.fill.between, fill: spec.fill.color }] : undefined,
      hooks: {
        drawClear: [(u) => this.drawBackground(u, nonFinite)],
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
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    const band = this.spec.band;
    if (band) {
      const y0 = u.valToPos(band.high, "y", true);
      const y1 = u.valToPos(band.low, "y", true);
      ctx.fillStyle = cssVar(band.danger ? "--shade-error" : "--band") || "rgba(40,160,80,0.15)";
      ctx.fillRect(left, Math.min(y0, y1), width, Math.abs(y1 - y0));
      ctx.fillStyle = cssVar(band.danger ? "--error" : "--band-text") || "#2a7";
      ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
      const labelY = Math.max(Math.min(y0, y1), top) + 13 * devicePixelRatio;
      ctx.fillText(band.label, left + 6 * devicePixelRatio, labelY);
    }
    for (const shade of this.spec.shades ?? []) {
      let x0 = u.valToPos(shade.start, "x", true);
      let x1 = u.valToPos(shade.end, "x", true);
      if (x1 - x0 < 3 * devicePixelRatio) {
        const mid = (x0 + x1) / 2;
        x0 = mid - 1.5 * devicePixelRatio;
        x1 = mid + 1.5 * devicePixelRatio;
      }
      ctx.fillStyle = shade.color;
      ctx.fillRect(x0, top, x1 - x0, height);
    }
    if (nonFinite.length) {
      ctx.fillStyle = "rgb(214,0,214)";
      for (const x of nonFinite) {
        const px = u.valToPos(x, "x", true);
        ctx.fillRect(px - 1.5 * devicePixelRatio, top, 3 * devicePixelRatio, 6 * devicePixelRatio);
      }
    }
    ctx.restore();
  }
}
