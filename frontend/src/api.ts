// Typed access to the plugin's routes (documented in tb_fitdiag/http_api.md).
//
// TensorBoard's JSON responder turns NaN and +/-Infinity into the strings "NaN", "Infinity" and
// "-Infinity"; `num` turns them back into numbers wherever a number is expected.

export type Num = number | string | null;

export interface RunSummary {
  name: string;
  train_run: string | null;
  validation_run: string | null;
  has_losses: boolean;
  has_gradients: boolean;
  has_static_findings: boolean;
  layer_count: number;
  gradient_stats: string[];
  max_step: number | null;
  /** Changes whenever TensorBoard has new data for the run: what the page polls for. */
  fingerprint: string;
  loaded: boolean;
}

export interface RunsResponse {
  runs: RunSummary[];
}

export interface Finding {
  name: string;
  severity: "error" | "warning" | "info" | string;
  step_start: number | null;
  step_end: number | null;
  message: string;
  evidence: Record<string, unknown>;
  suggestions: string[];
  summary: string | null;
  remedy: string | null;
}

export interface SeriesJson {
  tag: string;
  unit: string;
  steps: number[];
  values: Num[];
}

export interface Headline {
  cause: string;
  finding: string;
  explains: string[];
  summary: string;
  message: string;
  fix: string;
  static: { path: string; line: number | null; name: string; message: string } | null;
}

/** A scalar other than the loss (accuracy, the learning rate, ...), paired by name. */
export interface MetricJson {
  name: string;
  learning_rate: boolean;
  train: SeriesJson | null;
  validation: SeriesJson | null;
}

/** A finding FitDiagCallback said while the run trained (the fitdiag/live_findings document). */
export interface LiveFinding {
  name: string;
  severity: string;
  /** The global step at which it was said. */
  step: number;
  /** Keras's epoch index (0-based) at which it was said. */
  epoch: number;
}

/** What TensorBoard's loader dropped of the run, and the flag that keeps it. */
export interface Retention {
  records_written: number;
  records_kept: number;
  series_at_limit: number;
  flag: string;
  message: string;
}

export interface DiagnosisResponse {
  run: string;
  /** The data the diagnosis was read from: the run's fingerprint in /runs. */
  fingerprint: string;
  headline: Headline | null;
  findings: Finding[];
  notes: string[];
  skipped: string[];
  /** What the callback said while training; empty when nothing was said or recorded. */
  live?: LiveFinding[];
  /** null when TensorBoard kept every record and value. */
  retention?: Retention | null;
  losses: Record<string, SeriesJson>;
  metrics: MetricJson[];
  has_gradients: boolean;
  layers: string[];
  run_info: Record<string, unknown> | null;
}

/** A layer-by-step matrix: nested lists, or (what the page asks for) base64 float32 cells;
 * `present` is null when every cell was recorded. */
export type StatMatrix =
  | { steps: number[]; format: "lists"; values: Num[][] }
  | { steps: number[]; format: "base64"; values: string; present: string | null };

export interface GradientsResponse {
  run: string;
  layers: string[];
  stats: Record<string, StatMatrix | null>;
  available: string[];
  thresholds: {
    vanishing_grad_norm: number;
    exploding_grad_norm: number;
    update_ratio_low: number;
    update_ratio_high: number;
    update_ratio_typical_low: number;
    update_ratio_typical_high: number;
    dead_fraction: number;
  };
}

export interface StaticFinding {
  code: string;
  name: string;
  severity: string;
  path: string;
  line: number;
  column: number;
  message: string;
}

export interface StaticFindingsResponse {
  run: string;
  static_findings: {
    script: string;
    sha256: string;
    fitlint_version: string;
    error: string | null;
    findings: StaticFinding[];
  } | null;
}

/** Converts a JSON number, or TensorBoard's string form of a non-finite float, to a number. */
export function num(value: unknown): number {
  if (typeof value === "number") return value;
  if (value === "NaN") return NaN;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  if (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) {
    return Number(value);
  }
  return NaN;
}

/** Like `num`, but keeps null (a missing value) as null. */
export function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(path: string, params: Record<string, string | string[]> = {}): Promise<T> {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : [value]) query.append(key, item);
  }
  const qs = query.toString();
  // Relative to the iframe's <base href="plugin/fitdiag/">: resolves under data/plugin/fitdiag/.
  const response = await fetch(qs ? `./${path}?${qs}` : `./${path}`);
  if (!response.ok) {
    const text = (await response.text()).trim();
    throw new HttpError(response.status, text || `${response.status} ${response.statusText}`);
  }
  return (await response.json()) as T;
}

export const api = {
  runs: () => getJson<RunsResponse>("runs"),
  diagnosis: (run: string) => getJson<DiagnosisResponse>("diagnosis", { run }),
  gradients: (run: string, stats: string[]) =>
    getJson<GradientsResponse>("gradients", { run, stat: stats, format: "base64" }),
  staticFindings: (run: string) => getJson<StaticFindingsResponse>("static_findings", { run }),
};
