// The heatmap's colour scales, one per statistic it can show:
//
// * gradient norm and update ratio: log10 of the value in three zones, so that too small
//   (blue), ordinary (green) and too large (red) stand apart at a glance;
// * fraction of exactly-zero gradients: 0..1, pale to orange below the dead-units threshold,
//   red to dark red above it, so a 99%-dead layer never looks healthy.
//
// Exactly 0 (a gradient norm of 0, every gradient 0, weights that did not move) is black in
// every scale: no signal at all, not merely a small one. NaN/Inf is magenta.

export type Rgb = [number, number, number];

export const NONFINITE: Rgb = [214, 0, 214]; // magenta: NaN or Inf
export const EXACT_ZERO: Rgb = [0, 0, 0]; // black: exactly 0
export const MOSTLY_ZERO: Rgb = [96, 96, 96]; // grey: most of the layer's gradients exactly 0
export const VANISHED_FLOOR = 4; // decades below the low threshold where blue saturates
export const EXPLODED_CEIL = 4; // decades above the high threshold where red saturates

function hex(value: string): Rgb {
  const n = parseInt(value.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function lerp(a: Rgb, b: Rgb, t: number): Rgb {
  return [
    Math.round(a[0] + (b[0] - a[0]) * t),
    Math.round(a[1] + (b[1] - a[1]) * t),
    Math.round(a[2] + (b[2] - a[2]) * t),
  ];
}

function ramp(stops: Rgb[], t: number): Rgb {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  return lerp(stops[i], stops[i + 1], x - i);
}

const BLUES = ["#08306b", "#2166ac", "#4393c3", "#92c5de"].map(hex);
const GREENS = ["#e5f5e0", "#a1d99b", "#41ab5d", "#1b7837"].map(hex);
const REDS = ["#fdae61", "#f46d43", "#d73027", "#67001f"].map(hex);
const BELOW_DEAD = ["#f7f7f7", "#fee8a0", "#fdae61"].map(hex);
const ABOVE_DEAD = ["#e34a33", "#b30000", "#5c0010"].map(hex);

export interface LegendKey {
  label: string;
  /** A swatch of this colour; none for a key that only names a zone of the bar. */
  color?: Rgb;
  /** "missing": the "not recorded" hatching. */
  swatch?: "missing";
  className?: string;
  title?: string;
}

export interface Legend {
  title: string;
  /** The bar's axis: log10 of the value, or the value itself. */
  log: boolean;
  min: number;
  max: number;
  ticks: { at: number; label: string }[];
  /** A bracket under the bar (the typical range). */
  bracket?: { from: number; to: number; label: string };
  keys: LegendKey[];
}

export interface ColorScale {
  /** The colour of one value (not its log). */
  color(value: number): Rgb;
  /** How far from healthy a value is: the representative of a bin of columns is its worst. */
  extremity(value: number): number;
  /** The value as the tooltip shows it. */
  format(value: number): string;
  legend: Legend;
}

function sci(value: number): string {
  if (value === 0) return "0";
  const e = Math.log10(Math.abs(value));
  if (Math.abs(e - Math.round(e)) < 1e-9) return `1e${Math.round(e)}`;
  return value.toExponential(1);
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (!Number.isFinite(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value === 0) return "0 (exactly)";
  const abs = Math.abs(value);
  if (abs < 1e-3 || abs >= 1e5) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

function decadeTicks(lo: number, hi: number): { at: number; label: string }[] {
  const ticks = [];
  const step = Math.max(1, Math.round((hi - lo) / 6));
  for (let t = lo; t <= hi; t += step) ticks.push({ at: t, label: `1e${t}` });
  return ticks;
}

const COMMON_KEYS: LegendKey[] = [
  { label: "exactly 0", color: EXACT_ZERO, title: "No signal at all" },
  { label: "NaN/Inf", color: NONFINITE },
  { label: "not recorded", swatch: "missing" },
];

/**
 * Three zones on log10 of the value: blue below `low`, green between, red above `high`.
 *
 * @param words names of the zones, e.g. ["vanishing", "exploding"].
 */
export function logZoneScale(
  title: string,
  low: number,
  high: number,
  words: [string, string],
  bracket?: { from: number; to: number; label: string },
): ColorScale {
  const lo = Math.log10(low > 0 ? low : 1e-7);
  let hi = Math.log10(high > 0 ? high : 1e3);
  if (!(hi > lo)) hi = lo + 1;
  const color = (value: number): Rgb => {
    if (!Number.isFinite(value)) return NONFINITE;
    if (value <= 0) return EXACT_ZERO;
    const lg = Math.log10(value);
    if (lg < lo) return ramp(BLUES, 1 - (lo - lg) / VANISHED_FLOOR);
    if (lg > hi) return ramp(REDS, (lg - hi) / EXPLODED_CEIL);
    return ramp(GREENS, (lg - lo) / (hi - lo));
  };
  const extremity = (value: number): number => {
    if (!Number.isFinite(value)) return Infinity;
    if (value <= 0) return 1e9;
    const lg = Math.log10(value);
    return Math.max(lo - lg, lg - hi, 0) * 1e3 + Math.abs(lg - (lo + hi) / 2);
  };
  const min = Math.floor(lo - VANISHED_FLOOR);
  const max = Math.ceil(hi + EXPLODED_CEIL);
  return {
    color,
    extremity,
    format: formatNumber,
    legend: {
      title,
      log: true,
      min,
      max,
      ticks: decadeTicks(min, max),
      bracket: bracket ? { from: Math.log10(bracket.from), to: Math.log10(bracket.to), label: bracket.label } : undefined,
      keys: [
        { label: `${words[0]} < ${sci(low)}`, className: "zone-low" },
        { label: `${words[1]} > ${sci(high)}`, className: "zone-high" },
        ...COMMON_KEYS,
      ],
    },
  };
}

/** The fraction of a layer's gradients that are exactly 0, against the dead-units threshold. */
export function zeroFractionScale(dead: number): ColorScale {
  const threshold = dead > 0 && dead < 1 ? dead : 0.7;
  const color = (value: number): Rgb => {
    if (!Number.isFinite(value)) return NONFINITE;
    if (value >= 1) return EXACT_ZERO;
    if (value < threshold) return ramp(BELOW_DEAD, Math.max(0, value) / threshold);
    return ramp(ABOVE_DEAD, (value - threshold) / (1 - threshold));
  };
  const pct = (v: number): string => `${Number((v * 100).toPrecision(3))}%`;
  return {
    color,
    extremity: (value) => (Number.isFinite(value) ? value : Infinity),
    format: (value) =>
      Number.isFinite(value) ? (value >= 1 ? "100% (every gradient exactly 0)" : pct(value)) : formatNumber(value),
    legend: {
      title: "gradients exactly 0",
      log: false,
      min: 0,
      max: 1,
      ticks: [0, 0.25, 0.5, threshold, 1].map((at) => ({ at, label: pct(at) })),
      keys: [
        { label: `dead ≥ ${pct(threshold)}`, className: "zone-high", title: "The diagnosis' dead_fraction threshold" },
        { label: "100%", color: EXACT_ZERO, title: "Every gradient entry exactly 0" },
        { label: "NaN/Inf", color: NONFINITE },
        { label: "not recorded", swatch: "missing" },
      ],
    },
  };
}

/** The colour at a position of a legend's axis (log10 of the value, or the value). */
export function colorAt(scale: ColorScale, at: number): Rgb {
  return scale.color(scale.legend.log ? Math.pow(10, at) : at);
}
