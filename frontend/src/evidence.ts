// A finding's evidence in words and units: each number with a plain label (the statistics'
// names explained on hover, as docs/diagnose.md explains them), per-layer numbers as a table.

import { num } from "./api";
import { fmt, h } from "./dom";

type Unit =
  | "number" // a plain number
  | "percent" // a fraction shown as a percentage
  | "change" // a signed relative change shown as a percentage
  | "times" // a factor
  | "step" // a step or epoch, in the finding's unit
  | "p" // a p-value
  | "per-step" // a slope, per step or epoch
  | "text";

interface Term {
  label: string;
  hint?: string;
  unit?: Unit;
}

const MANN_KENDALL =
  "Mann-Kendall trend test: the chance that values which were only noise would rise (or fall) " +
  "at least this consistently. Below 0.01 the trend is real, not noise.";
const UPDATE_RATIO =
  "Update-to-weight ratio |Δw| / |w|: how much one optimizer step changes a layer's weights, " +
  "relative to their size. Around 1e-3 per step is the usual rule of thumb (CS231n).";

/** Evidence keys the diagnosis writes (tb_fitdiag/diagnosis), in words. */
export const TERMS: Record<string, Term> = {
  tag: { label: "series", hint: "The scalar tag the finding was read from.", unit: "text" },
  train_tag: { label: "training series", unit: "text" },
  learning_rate: { label: "learning rate" },
  optimizer: { label: "optimizer", unit: "text" },
  kind: { label: "what happened", unit: "text" },
  initial_loss: {
    label: "untrained model's loss",
    hint: "The loss of the first recorded steps, before training has changed the model much.",
  },
  peak: { label: "peak loss" },
  peak_step: { label: "peak at", unit: "step" },
  factor: { label: "peak / reference", hint: "How many times the reference loss the peak is.", unit: "times" },
  end_level: {
    label: "level at the end",
    hint: "The median of the last points (a tenth of the series, a quarter in the divergence checks).",
  },
  start_level: { label: "level at the start", hint: "The median of the first tenth of the points." },
  points: { label: "points" },
  windows_over: {
    label: "windows above the line",
    hint: "Intervals between two records whose largest batch loss passed the divergence line.",
  },
  minimum: { label: "minimum" },
  minimum_step: { label: "minimum at", unit: "step" },
  maximum: { label: "maximum" },
  start_value: { label: "first value" },
  rise_above_minimum: { label: "rise above the minimum", unit: "change" },
  rise_above_start: { label: "rise above the first value", unit: "change" },
  rise_above_initial: { label: "rise above the untrained loss", unit: "change" },
  improvement: { label: "improvement over the run", unit: "change" },
  chance_loss: {
    label: "loss of a uniform guess",
    hint: "ln C for C classes, ln 2 for binary cross-entropy: what a model that predicts no better than chance scores.",
  },
  accuracy: { label: "accuracy" },
  accuracy_tag: { label: "accuracy series", unit: "text" },
  mann_kendall_p: { label: "trend p (Mann-Kendall)", hint: MANN_KENDALL, unit: "p" },
  mann_kendall_p_decreasing: { label: "falling-trend p (Mann-Kendall)", hint: MANN_KENDALL, unit: "p" },
  second_half_mann_kendall_p_decreasing: {
    label: "second half falling-trend p (Mann-Kendall)",
    hint: MANN_KENDALL,
    unit: "p",
  },
  kendall_tau: {
    label: "trend strength (Kendall's τ)",
    hint: "From −1 (every later value lower) through 0 (no trend) to +1 (every later value higher).",
  },
  theil_sen_slope: {
    label: "slope (Theil-Sen)",
    hint: "The median of the slopes between every pair of points: how much the loss changes per step (or epoch), not thrown off by outliers.",
    unit: "per-step",
  },
  swings: { label: "large swings" },
  swing_rate: { label: "swings per point", unit: "percent" },
  amplitude_threshold: { label: "a swing counts from", hint: "Of the loss level.", unit: "percent" },
  validation_minimum: { label: "best validation loss" },
  validation_minimum_step: { label: "best at", unit: "step" },
  validation_end_level: { label: "validation loss at the end" },
  generalization_loss: {
    label: "generalization loss (GL)",
    hint: "Prechelt's generalization loss: how far the validation loss ended above its best value, as a fraction of that best (10% = 10% worse than at its best).",
    unit: "percent",
  },
  points_after_minimum: { label: "points after the best" },
  train_change_since_minimum: { label: "training loss since then", unit: "change" },
  training_progress: {
    label: "training progress (P_k)",
    hint: "Prechelt's training progress over the last k epochs: how much the strip's mean training loss exceeds its minimum, in parts per thousand. Near 0: the training loss has stopped moving.",
  },
  progress_quotient: {
    label: "progress quotient (PQ)",
    hint: "Prechelt's PQ = GL / P_k: how much the validation loss worsened per unit of training progress. Large: validation gets worse while training hardly improves, time to stop.",
  },
  first_non_finite_step: { label: "first NaN/Inf at", unit: "step" },
  first_non_finite_value: { label: "first non-finite value", unit: "text" },
  non_finite_count: { label: "NaN/Inf values" },
  point_count: { label: "values recorded" },
  last_finite_step: { label: "last finite value at", unit: "step" },
  last_finite_value: { label: "last finite value" },
  non_finite_batches: { label: "NaN/Inf batches", hint: "Counted by the callback between records." },
  largest_finite_loss: { label: "largest finite loss" },
  series_affected: { label: "series affected" },
  first_step: { label: "first at", unit: "step" },
  layers: { label: "layers" },
  first_layer: { label: "first layer", unit: "text" },
  last_layer: { label: "last layer", unit: "text" },
  ratio: { label: "first / last layer", hint: "The first layer's gradient norm divided by the last layer's." },
  first_layer_norm: { label: "first layer's gradient norm" },
  growth: { label: "growth", hint: "Smoothed end over smoothed start of the global gradient norm.", unit: "times" },
  start_norm: { label: "gradient norm at the start" },
  end_norm: { label: "gradient norm at the end" },
  median_norm: { label: "median gradient norm" },
  first_records_norm: { label: "gradient norm, first records" },
  largest_norm: { label: "largest gradient norm" },
  records: { label: "records" },
  median_update_ratio: { label: "median update ratio", hint: UPDATE_RATIO },
  // Per-layer tables: the label names the value column.
  update_ratio_by_layer: { label: "median update ratio |Δw|/|w| per step", hint: UPDATE_RATIO },
  grad_norm_by_layer: {
    label: "gradient norm (median of the last records)",
    hint: "The median gradient norm of each layer over the last half of the records.",
  },
  saturated_fraction_by_layer: { label: "saturated units", unit: "percent" },
  zero_gradient_fraction: {
    label: "gradients exactly 0",
    hint: "The share of the layer's gradient entries that are exactly zero: no signal reaches those weights.",
    unit: "percent",
  },
  dead_fraction: {
    label: "units never active",
    hint: "The share of ReLU units that output 0 for every example of the probe batch.",
    unit: "percent",
  },
};

/** The `kind` values, in words. */
const KINDS: Record<string, string> = {
  "from-start": "NaN or Inf from the first step, before any update",
  overflow: "the loss grew until it overflowed",
  "above-initial": "the loss rose far above the untrained model's",
  peak: "the largest batch loss rose far above the untrained model's loss",
  "ended-above-initial": "the loss ended well above the untrained model's",
  spike: "the loss jumped far above its best value",
  sustained: "the loss kept rising after its minimum",
  "zero-loss": "the loss is exactly 0",
  "constant-accuracy": "the accuracy never changed: the predictions are frozen",
  "at-chance": "the loss ended at the loss of a uniform guess",
  "non-finite": "gradients became NaN or Inf",
  growth: "the gradient norm grew by orders of magnitude",
  large: "the gradient norm stays very large",
  ratio: "the first layer's gradient is far larger than the last layer's",
};

// Shown elsewhere on the card: the unit is in the step range, the fitlint findings are links.
const HIDDEN = new Set(["step_unit", "static_causes"]);
const TABLE_ROWS = 8;

function term(key: string): Term {
  return TERMS[key] ?? { label: key.replace(/_/g, " ") };
}

function isNonFinite(value: unknown): boolean {
  return typeof value === "string" && ["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"].includes(value);
}

/** One value in its unit. */
export function formatValue(value: unknown, unit: Unit | undefined, stepUnit: string): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string" && !isNonFinite(value)) return value;
  if (typeof value !== "number" && !isNonFinite(value)) return String(value);
  const n = num(value);
  if (!Number.isFinite(n)) return fmt(n);
  switch (unit) {
    case "percent":
      return `${fmt(n * 100, 3)}%`;
    case "change":
      return `${n > 0 ? "+" : n < 0 ? "−" : ""}${fmt(Math.abs(n) * 100, 3)}%`;
    case "times":
      return `${fmt(n, 3)}×`;
    case "step":
      return `${stepUnit} ${fmt(n)}`;
    case "p":
      return n < 1e-3 ? n.toExponential(1) : fmt(n, 2);
    case "per-step":
      return `${fmt(n, 3)} per ${stepUnit}`;
    default:
      return fmt(n, 4);
  }
}

function labelOf(key: string): HTMLElement {
  const t = term(key);
  return t.hint
    ? h("span", { class: "term", title: t.hint, tabindex: "0" }, t.label)
    : h("span", {}, t.label);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A per-layer mapping as a table: `{layer: number}` or `{layer: {stat: number}}`. */
function layerTable(key: string, rows: Record<string, unknown>, stepUnit: string): HTMLElement {
  const names = Object.keys(rows);
  const nested = names.some((n) => isRecord(rows[n]));
  const columns = nested
    ? Array.from(new Set(names.flatMap((n) => (isRecord(rows[n]) ? Object.keys(rows[n] as object) : []))))
    : [key];
  const head = h("tr", {}, h("th", {}, "layer"), ...columns.map((c) => h("th", {}, labelOf(c))));
  const row = (name: string): HTMLElement => {
    const value = rows[name];
    const cells = columns.map((c) => {
      const v = nested ? (isRecord(value) ? value[c] : undefined) : value;
      return h("td", { class: "num" }, formatValue(v, term(c).unit, stepUnit));
    });
    return h("tr", {}, h("td", { class: "layer", title: name }, name), ...cells);
  };
  const table = h(
    "table",
    { class: "evidence-table", "data-evidence": key },
    h("thead", {}, head),
    h("tbody", {}, ...names.slice(0, TABLE_ROWS).map(row)),
  );
  if (names.length <= TABLE_ROWS) return table;
  const rest = h("tbody", { class: "more-rows" }, ...names.slice(TABLE_ROWS).map(row));
  rest.hidden = true;
  table.append(rest);
  const toggle = h(
    "button",
    { class: "link-button", type: "button", "aria-expanded": "false" },
    `Show all ${names.length} layers`,
  );
  toggle.addEventListener("click", () => {
    rest.hidden = !rest.hidden;
    toggle.setAttribute("aria-expanded", String(!rest.hidden));
    toggle.textContent = rest.hidden ? `Show all ${names.length} layers` : "Show fewer";
  });
  return h("div", { class: "evidence-table-wrap" }, table, toggle);
}

function listText(values: unknown[]): string {
  const shown = values.slice(0, 8).map((v) => (typeof v === "string" ? v : fmt(num(v))));
  return values.length > 8 ? `${shown.join(", ")} and ${values.length - 8} more` : shown.join(", ");
}

/**
 * The evidence of a finding: single values as a list of label/value pairs, lists as text,
 * per-layer mappings as tables. Null when there is nothing to show.
 */
export function evidenceView(evidence: Record<string, unknown>, stepUnit: string): HTMLElement | null {
  const pairs = h("dl", { class: "evidence" });
  const tables: HTMLElement[] = [];
  for (const [key, value] of Object.entries(evidence)) {
    if (HIDDEN.has(key)) continue;
    if (isRecord(value)) {
      tables.push(layerTable(key, value, stepUnit));
      continue;
    }
    let text: string;
    let extra: HTMLElement | null = null;
    if (Array.isArray(value)) {
      text = listText(value);
    } else {
      text = formatValue(value, term(key).unit, stepUnit);
      if (key === "kind" && typeof value === "string" && KINDS[value]) {
        text = KINDS[value];
        extra = h("span", { class: "muted" }, ` (${value})`);
      }
    }
    pairs.append(
      h("div", { class: "ev", "data-key": key }, h("dt", {}, labelOf(key)), h("dd", {}, text, extra)),
    );
  }
  if (!pairs.childElementCount && !tables.length) return null;
  return h("div", { class: "evidence-view" }, pairs.childElementCount ? pairs : null, ...tables);
}
