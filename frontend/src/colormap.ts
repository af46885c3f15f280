// The heatmap's colour scale: log10 of the gradient norm, in three zones so that vanishing
// (blue), healthy (green) and exploding (red) regions stand apart at a glance.

export type Rgb = [number, number, number];

export const NONFINITE: Rgb = [214, 0, 214]; // magenta: NaN or Inf
export const VANISHED_FLOOR = 4; // decades below the vanishing threshold where blue saturates
export const EXPLODED_CEIL = 4; // decades above the exploding threshold where red saturates

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

export interface Scale {
  /** log10 of the vanishing threshold: below it, blue. */
  low: number;
  /** log10 of the exploding threshold: above it, red. */
  high: number;
}

export function scaleFromThresholds(vanishing: number, exploding: number): Scale {
  const low = Math.log10(vanishing > 0 ? vanishing : 1e-7);
  let high = Math.log10(exploding > 0 ? exploding : 1e3);
  if (!(high > low)) high = low + 1;
  return { low, high };
}

/** The colour of one gradient norm (not its log). */
export function colorOf(value: number, scale: Scale): Rgb {
  if (!Number.isFinite(value)) return NONFINITE;
  if (value <= 0) return BLUES[0];
  const lg = Math.log10(value);
  if (lg < scale.low) return ramp(BLUES, 1 - (scale.low - lg) / VANISHED_FLOOR);
  if (lg > scale.high) return ramp(REDS, (lg - scale.high) / EXPLODED_CEIL);
  return ramp(GREENS, (lg - scale.low) / (scale.high - scale.low));
}

/** The colour at a position of the legend's log10 axis. */
export function colorOfLog(lg: number, scale: Scale): Rgb {
  return colorOf(Math.pow(10, lg), scale);
}
