// Entry point of the "Fit Diagnosis" tab. TensorBoard loads this ES module inside the plugin's
// iframe (whose <base href> is data/plugin/fitdiag/) and calls render().

import {
  api,
  HttpError,
  num,
  type DiagnosisResponse,
  type Finding,
  type GradientsResponse,
  type LiveFinding,
  type MetricJson,
  type RunSummary,
  type StaticFindingsResponse,
} from "./api";
import { emptyGradients, findingCards, headlineBanner, liveText, staticFindingsPanel, stepUnit } from "./cards";
import { LineChart, type ChartSpec, type LineSeries, type Marker, type Shade } from "./charts";
import { logZoneScale, zeroFractionScale, MOSTLY_ZERO, type ColorScale } from "./colormap";
import { clear, cssVar, fmt, h, sci } from "./dom";
import { Heatmap, summarizeLayers, toMatrix, type LayerSummary, type Matrix, type StepRange } from "./heatmap";

/** The per-layer statistics the page reads (those a run has). */
const GRADIENT_STATS = ["grad_norm", "zero_fraction", "update_ratio", "dead_fraction"];
/** How often the page asks whether a run has new data (TensorBoard reloads every 5 s). */
const POLL_MS = 3000;
const SEVERITY_SHADE: Record<string, string> = {
  error: "--shade-error",
  warning: "--shade-warning",
  info: "--shade-info",
};
const SEVERITY_BAR: Record<string, string> = { error: "--error", warning: "--warning", info: "--info" };
const METRIC_COLORS = ["--train", "--validation", "--metric-3", "--metric-4", "--metric-5", "--metric-6"];

interface HeatmapMode {
  mode: string;
  stat: string;
  /** What the cells show, in words. */
  label: string;
}

const HEATMAP_MODES: HeatmapMode[] = [
  { mode: "grad_norm", stat: "grad_norm", label: "gradient norm" },
  { mode: "zero_fraction", stat: "zero_fraction", label: "gradients exactly 0" },
  { mode: "update_ratio", stat: "update_ratio", label: "update ratio" },
];

/** The heatmap view that shows what a finding is about. */
function modeOfFinding(finding: Finding): string | null {
  switch (finding.name) {
    case "dead-units":
      return "zero_fraction";
    case "update-ratio-too-low":
    case "update-ratio-too-high":
      return "update_ratio";
    case "vanishing-gradients":
    case "exploding-gradients":
      return "grad_norm";
    default:
      return null;
  }
}

interface Loaded {
  run: RunSummary;
  diagnosis: DiagnosisResponse;
  gradients: GradientsResponse | null;
  staticFindings: StaticFindingsResponse;
}

interface Drawable {
  readonly root: HTMLElement;
  draw(width: number): void;
  destroy?(): void;
}

class App {
  private runs: RunSummary[] = [];
  private selected: string | null = null;
  private request = 0;
  private loaded: Loaded | null = null;
  /** The heatmap view the user chose (kept across refreshes of the same run). */
  private heatmapMode: string | null = null;
  private drawables: Drawable[] = [];
  private polling = false;
  private loading = false;
  private refreshes = 0;
  private readonly filter = h("input", {
    class: "run-filter",
    type: "search",
    placeholder: "Filter runs by name",
    "aria-label": "Filter runs by name",
  });
  private readonly runCount = h("div", { class: "run-count muted" });
  private readonly runList = h("ul", { class: "run-list", role: "listbox", "aria-label": "Runs" });
  private readonly liveStatus = h("div", { class: "live-status muted", "aria-live": "polite" });
  private readonly main = h("main", { class: "content" });

  constructor(root: HTMLElement) {
    root.append(
      h(
        "div",
        { class: "app" },
        h(
          "aside",
          { class: "sidebar" },
          h("div", { class: "brand" }, "Fit Diagnosis"),
          this.filter,
          this.runCount,
          this.runList,
          this.liveStatus,
        ),
        this.main,
      ),
    );
    this.filter.addEventListener("input", () => this.renderRunList());
    this.filter.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") {
        e.preventDefault();
        this.moveSelection("first-or-selected");
      }
    });
    this.runList.addEventListener("keydown", (e) => this.onListKey(e));
    let pending = 0;
    new ResizeObserver(() => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => this.drawAll());
    }).observe(this.main);
    window
      .matchMedia("(prefers-color-scheme: dark)")
      .addEventListener("change", () => this.loaded && this.show(this.loaded, true));
  }

  async start(): Promise<void> {
    this.status("Loading runs…");
    try {
      this.runs = (await api.runs()).runs;
    } catch (err) {
      this.error("Could not list the runs", err);
      return;
    }
    document.body.dataset.runs = String(this.runs.length);
    this.renderRunList();
    window.setInterval(() => void this.poll(), POLL_MS);
    if (this.runs.length === 0) {
      this.showNoRuns();
      return;
    }
    const remembered = safeStorage("fitdiag.run");
    const first = this.runs.find((r) => r.name === remembered) ?? this.runs[0];
    void this.select(first.name);
  }

  private showNoRuns(): void {
    this.main.replaceChildren(
      h(
        "div",
        { class: "notice" },
        h("h2", {}, "No runs with losses yet"),
        h(
          "p",
          {},
          "Point TensorBoard at a directory written by Keras (keras.callbacks.TensorBoard or FitDiagCallback); " +
            "runs appear here as soon as TensorBoard has read them.",
        ),
        emptyGradients("run1"),
      ),
    );
    document.body.dataset.drawn = "";
  }

  // --- the run list: a listbox, Up/Down/Home/End move the selection --------------------------

  private visibleRuns(): RunSummary[] {
    const needle = this.filter.value.trim().toLowerCase();
    return this.runs.filter((r) => r.name.toLowerCase().includes(needle));
  }

  private renderRunList(): void {
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.run;
    const shown = this.visibleRuns();
    this.runCount.textContent =
      shown.length === this.runs.length ? `${this.runs.length} runs` : `${shown.length} of ${this.runs.length} runs`;
    const anySelected = shown.some((r) => r.name === this.selected);
    const items = shown.map((run, i) => {
      const selected = run.name === this.selected;
      const option = h(
        "button",
        {
          class: "run",
          type: "button",
          role: "option",
          id: `run-option-${i}`,
          title: run.name,
          "data-run": run.name,
          "aria-selected": String(selected),
          // One tab stop for the whole list: the selected run (or the first).
          tabindex: selected || (!anySelected && i === 0) ? "0" : "-1",
        },
        h("span", { class: "run-name" }, run.name),
        run.has_gradients ? h("span", { class: "pill", title: "gradient statistics recorded" }, "∇") : null,
      );
      option.addEventListener("click", () => void this.select(run.name));
      return h("li", { role: "none" }, option);
    });
    this.runList.replaceChildren(...items);
    if (focused) this.option(focused)?.focus();
  }

  private option(name: string): HTMLButtonElement | null {
    for (const b of this.runList.querySelectorAll<HTMLButtonElement>("button.run")) {
      if (b.dataset.run === name) return b;
    }
    return null;
  }

  private onListKey(e: KeyboardEvent): void {
    const moves: Record<string, "up" | "down" | "home" | "end"> = {
      ArrowUp: "up",
      ArrowDown: "down",
      Home: "home",
      End: "end",
    };
    const move = moves[e.key];
    if (!move) return;
    e.preventDefault();
    this.moveSelection(move);
  }

  private moveSelection(move: "up" | "down" | "home" | "end" | "first-or-selected"): void {
    const shown = this.visibleRuns();
    if (!shown.length) return;
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.run ?? this.selected;
    const at = shown.findIndex((r) => r.name === focused);
    let next: number;
    if (move === "home") next = 0;
    else if (move === "end") next = shown.length - 1;
    else if (move === "first-or-selected") next = Math.max(0, shown.findIndex((r) => r.name === this.selected));
    else if (at < 0) next = 0;
    else next = Math.min(shown.length - 1, Math.max(0, at + (move === "down" ? 1 : -1)));
    const name = shown[next].name;
    const option = this.option(name);
    option?.focus();
    option?.scrollIntoView({ block: "nearest" });
    if (name !== this.selected) void this.select(name);
  }

  // --- selecting, refreshing ----------------------------------------------------------------

  async select(name: string, refresh = false): Promise<void> {
    const run = this.runs.find((r) => r.name === name);
    if (!run) return;
    const token = ++this.request;
    if (!refresh) {
      this.selected = name;
      this.heatmapMode = null;
      trySetStorage("fitdiag.run", name);
      for (const button of this.runList.querySelectorAll<HTMLButtonElement>("button.run")) {
        const on = button.dataset.run === name;
        button.setAttribute("aria-selected", String(on));
        button.tabIndex = on ? 0 : -1;
      }
      document.body.dataset.drawn = "";
      this.status(`Diagnosing ${name}…`);
    }
    performance.mark(`fitdiag-select:${name}`);
    this.loading = true;
    try {
      const stats = GRADIENT_STATS.filter((s) => run.gradient_stats.includes(s));
      const [diagnosis, gradients, staticFindings] = await Promise.all([
        api.diagnosis(name),
        run.has_gradients ? api.gradients(name, stats) : Promise.resolve(null),
        api.staticFindings(name),
      ]);
      if (token !== this.request) return;
      performance.mark(`fitdiag-fetched:${name}`);
      this.show({ run, diagnosis, gradients, staticFindings }, refresh);
      performance.mark(`fitdiag-shown:${name}`);
    } catch (err) {
      if (token !== this.request) return;
      if (refresh) {
        this.liveStatus.textContent = `Could not refresh ${name}: ${err instanceof HttpError ? err.status : String(err)}`;
        return;
      }
      this.error(`Could not diagnose ${name}`, err);
      return;
    } finally {
      if (token === this.request) this.loading = false;
    }
    // Two frames: the first runs after every chart has drawn, the second after it was painted.
    await new Promise(requestAnimationFrame);
    await new Promise(requestAnimationFrame);
    if (token !== this.request) return;
    performance.mark(`fitdiag-drawn:${name}`);
    document.body.dataset.drawn = name;
    if (refresh) document.body.dataset.refreshes = String(++this.refreshes);
  }

  /** Asks /runs whether anything changed; re-reads the selected run when its data did. */
  private async poll(): Promise<void> {
    if (this.polling || document.hidden) return;
    this.polling = true;
    try {
      const runs = (await api.runs()).runs;
      const names = (list: RunSummary[]): string => list.map((r) => `${r.name}\u0000${r.has_gradients}`).join("\u0001");
      const listChanged = names(runs) !== names(this.runs);
      this.runs = runs;
      document.body.dataset.runs = String(runs.length);
      if (listChanged) this.renderRunList();
      if (!this.selected && runs.length) {
        void this.select(runs[0].name);
        return;
      }
      const current = runs.find((r) => r.name === this.selected);
      const shown = this.loaded?.diagnosis.fingerprint;
      if (current && shown && current.fingerprint !== shown && !this.loading) {
        this.liveStatus.textContent = `New data in ${current.name}: updated ${new Date().toLocaleTimeString()}`;
        await this.select(current.name, true);
      }
    } catch {
      // TensorBoard restarting or gone: try again at the next tick; the page stays as it is.
    } finally {
      this.polling = false;
    }
  }

  // --- the page of one run ------------------------------------------------------------------

  private show(data: Loaded, keepView = false): void {
    const scroll = keepView ? this.main.scrollTop : 0;
    this.loaded = data;
    for (const d of this.drawables) d.destroy?.();
    this.drawables = [];
    const { run, diagnosis, gradients, staticFindings } = data;
    const doc = staticFindings.static_findings;

    const lr = diagnosis.metrics.find((m) => m.learning_rate);
    const lrText = lr ? constantText(lr) : null;
    const header = h(
      "header",
      { class: "run-header" },
      h("h1", {}, run.name),
      h(
        "div",
        { class: "muted" },
        [
          run.train_run ? `train: ${run.train_run}` : "",
          run.validation_run ? `validation: ${run.validation_run}` : "",
          run.layer_count ? `${run.layer_count} layers` : "",
          lrText ? `learning rate ${lrText}` : "",
          run.max_step !== null && run.max_step !== undefined ? `last step ${run.max_step}` : "",
        ]
          .filter(Boolean)
          .join("  ·  "),
      ),
    );
    const sections: (HTMLElement | null)[] = [header];
    const retention = diagnosis.retention;
    if (retention) {
      sections.push(
        h(
          "div",
          { class: "notice notice-retention", role: "status" },
          h("strong", {}, "Part of this run is not shown. "),
          retention.message,
          h("div", {}, "Flag: ", h("code", { class: "retention-flag" }, retention.flag)),
        ),
      );
    }
    const notes = [...diagnosis.skipped, ...diagnosis.notes];
    if (notes.length) sections.push(h("ul", { class: "notes muted" }, ...notes.map((n) => h("li", {}, n))));
    sections.push(headlineBanner(diagnosis.headline ?? null, doc));

    // Overview, above the fold: the loss next to the other metrics, then the heatmap.
    const overview = h("section", { class: "overview" });
    const lossCell = this.lossCharts(diagnosis);
    overview.append(...lossCell);
    const metrics = this.metricCharts(diagnosis.metrics);
    overview.append(...metrics);
    if (!overview.childElementCount) overview.append(h("p", { class: "muted" }, "No loss recorded in this run."));
    sections.push(overview);

    const heatmapSection = h("section", { class: "gradient-health", id: "gradient-health" }, h("h2", {}, "Gradient health"));
    const grad = gradients?.stats["grad_norm"];
    let heatmapShow: ((mode: string) => void) | null = null;
    let available = new Set<string>();
    const withGradients = gradients && grad && gradients.layers.length > 0;
    if (!withGradients) {
      heatmapSection.append(emptyGradients(run.name));
    } else {
      available = new Set(HEATMAP_MODES.filter((m) => gradients.stats[m.stat]).map((m) => m.mode));
      heatmapShow = this.heatmapPanel(heatmapSection, diagnosis, gradients);
      sections.push(heatmapSection);
    }

    sections.push(h("h2", {}, `Diagnosis (${diagnosis.findings.length})`));
    sections.push(
      findingCards(
        diagnosis.findings,
        doc,
        {
          heatmapMode: (f) => {
            const mode = modeOfFinding(f);
            if (!mode || !available.has(mode)) return null;
            return { mode, label: HEATMAP_MODES.find((m) => m.mode === mode)?.label ?? mode };
          },
          showInHeatmap: (mode) => {
            heatmapShow?.(mode);
            heatmapSection.scrollIntoView({ block: "start", behavior: "smooth" });
          },
        },
        diagnosis.live ?? [],
      ),
    );

    // Details: the per-step loss and the per-layer summaries.
    const details = h("section", { class: "details" });
    const batch = this.batchChart(diagnosis);
    if (batch) details.append(batch);
    if (gradients) this.layerCharts(details, gradients);
    if (details.childElementCount) sections.push(h("h2", {}, "Per step and per layer"), details);
    // Without gradient statistics, how to record them comes after what the losses say.
    if (!withGradients) sections.push(heatmapSection);
    sections.push(staticFindingsPanel(doc));

    this.main.replaceChildren(...sections.filter((s): s is HTMLElement => s !== null));
    this.main.scrollTop = scroll;
    this.drawAll();
  }

  private shadesFor(diagnosis: DiagnosisResponse, unit: string, tags: Set<string>): Shade[] {
    return diagnosis.findings
      .filter((f) => {
        const tag = f.evidence["tag"];
        if (typeof tag !== "string" || stepUnit(f) !== unit) return false;
        if (f.step_start === null || f.step_end === null) return false;
        // The callback's running aggregates of the batch loss belong to the per-step chart.
        return tags.has(tag) || (unit === "step" && tag.startsWith("fitdiag/"));
      })
      .map((f) => ({
        start: f.step_start as number,
        end: f.step_end as number,
        label: f.name,
        color: cssVar(SEVERITY_SHADE[f.severity] ?? "--shade-info") || "rgba(200,0,0,0.12)",
      }));
  }

  /** A mark at each step (or epoch) at which the callback said findings while training: one
   * per step, its tooltip a line per finding, its colour the most severe one's. */
  private liveMarkers(live: LiveFinding[] | undefined, unit: string): Marker[] {
    const rank = (severity: string): number => ["error", "warning", "info"].indexOf(severity) >>> 0;
    const byX = new Map<number, LiveFinding[]>();
    for (const l of live ?? []) {
      const x = unit === "epoch" ? l.epoch : l.step;
      byX.set(x, [...(byX.get(x) ?? []), l]);
    }
    return Array.from(byX, ([x, said]) => {
      const worst = said.reduce((a, b) => (rank(b.severity) < rank(a.severity) ? b : a));
      return {
        x,
        label: said.map((l) => `${l.name}: ${liveText(l)}`).join("\n"),
        color: cssVar(SEVERITY_BAR[worst.severity] ?? "--info") || "#888",
      };
    }).sort((a, b) => a.x - b.x);
  }

  private lossCharts(diagnosis: DiagnosisResponse): HTMLElement[] {
    const losses = diagnosis.losses;
    const series: LineSeries[] = [];
    const tags = new Set<string>();
    for (const [key, label, color] of [
      ["train", "training loss", "--train"],
      ["validation", "validation loss", "--validation"],
    ] as const) {
      const s = losses[key];
      if (!s || s.steps.length === 0) continue;
      tags.add(s.tag);
      series.push({ label, steps: s.steps, values: s.values, color: cssVar(color), width: 2 });
    }
    // No per-epoch loss, or none that is finite: the per-step loss is the overview's too.
    const finite = series.some((s) => s.values.filter((v) => Number.isFinite(num(v))).length > 1);
    const batch = finite ? null : this.batchChart(diagnosis);
    if (!series.length) return batch ? [batch] : [];
    const unit = (losses["train"] ?? losses["validation"]).unit;
    const markers = this.liveMarkers(diagnosis.live, unit);
    return [
      ...(batch ? [batch] : []),
      this.chart({
        title: `Loss (the findings' ranges shaded${markers.length ? "; ▼ said while training" : ""})`,
        xLabel: unit,
        yLabel: "loss",
        series,
        yScale: "auto",
        integerX: true,
        shades: this.shadesFor(diagnosis, unit, tags),
        markers,
        height: 190,
      }),
    ];
  }

  private batchChart(diagnosis: DiagnosisResponse): HTMLElement | null {
    const s = diagnosis.losses["batch"];
    const train = diagnosis.losses["train"];
    if (!s || s.steps.length === 0) return null;
    // Shown in the overview when there is no per-epoch loss; here otherwise.
    if (this.drawables.some((d) => d.root.dataset.chart === "batch-loss")) return null;
    if (train && train.tag === s.tag) return null;
    const markers = this.liveMarkers(diagnosis.live, "step");
    const chart = this.chart({
      title: `Recorded batch loss per step (the findings' ranges shaded${markers.length ? "; ▼ said while training" : ""})`,
      xLabel: "step",
      yLabel: "loss",
      series: [{ label: "recorded batch loss", steps: s.steps, values: s.values, color: cssVar("--train"), width: 2 }],
      yScale: "auto",
      integerX: true,
      shades: this.shadesFor(diagnosis, "step", new Set([s.tag])),
      markers,
      height: 200,
    });
    chart.dataset.chart = "batch-loss";
    return chart;
  }

  private metricCharts(metrics: MetricJson[]): HTMLElement[] {
    const out: HTMLElement[] = [];
    const shown = metrics.filter((m) => !m.learning_rate);
    const series: LineSeries[] = [];
    shown.forEach((m, i) => {
      // One metric: the loss chart's colours; several: one colour each, validation dashed.
      const color = cssVar(shown.length === 1 ? "--train" : METRIC_COLORS[i % METRIC_COLORS.length]) || "#888";
      const valColor = shown.length === 1 ? cssVar("--validation") || color : color;
      if (m.train) series.push({ label: `${m.name}`, steps: m.train.steps, values: m.train.values, color, width: 2 });
      if (m.validation) {
        series.push({
          label: `validation ${m.name}`,
          steps: m.validation.steps,
          values: m.validation.values,
          color: valColor,
          width: 2,
          dash: [5, 3],
        });
      }
    });
    if (series.length) {
      const unit = shown.find((m) => m.train)?.train?.unit ?? shown[0].validation?.unit ?? "epoch";
      const chart = this.chart({
        title: shown.length === 1 ? `${shown[0].name[0].toUpperCase()}${shown[0].name.slice(1)}` : "Metrics (validation dashed)",
        xLabel: unit,
        yLabel: shown.length === 1 ? shown[0].name : "value",
        series,
        integerX: true,
        height: 190,
      });
      chart.dataset.chart = "metrics";
      out.push(chart);
    }
    const lr = metrics.find((m) => m.learning_rate);
    const lrSeries = lr?.train ?? lr?.validation;
    if (lr && lrSeries && constantText(lr) === null) {
      out.push(
        this.chart({
          title: "Learning rate",
          xLabel: lrSeries.unit,
          yLabel: "learning rate",
          series: [{ label: "learning rate", steps: lrSeries.steps, values: lrSeries.values, color: cssVar("--range"), width: 2 }],
          yScale: "auto",
          integerX: true,
          height: 190,
        }),
      );
    }
    return out;
  }

  /** The heatmap with its view switch; returns the function that switches the view. */
  private heatmapPanel(host: HTMLElement, diagnosis: DiagnosisResponse, gradients: GradientsResponse): (mode: string) => void {
    const t = gradients.thresholds;
    const matrices = new Map<string, Matrix>();
    for (const m of HEATMAP_MODES) {
      const json = gradients.stats[m.stat];
      if (json) matrices.set(m.mode, toMatrix(gradients.layers, json));
    }
    const typicalLow = t.update_ratio_typical_low ?? 1e-4;
    const typicalHigh = t.update_ratio_typical_high ?? 1e-2;
    const scales: Record<string, ColorScale> = {
      grad_norm: logZoneScale("gradient norm", t.vanishing_grad_norm, t.exploding_grad_norm, ["vanishing", "exploding"]),
      zero_fraction: zeroFractionScale(t.dead_fraction),
      update_ratio: logZoneScale("update ratio |Δw|/|w|", t.update_ratio_low, t.update_ratio_high, ["too small", "too large"], {
        from: typicalLow,
        to: typicalHigh,
        label: `typical: ${sci(typicalLow)} to ${sci(typicalHigh)} per step`,
      }),
    };
    // The gradient findings' ranges over the columns (the loss findings are on the loss charts).
    const ranges: StepRange[] = diagnosis.findings
      .filter((f) => typeof f.evidence["tag"] !== "string" && stepUnit(f) === "step" && f.step_start !== null && f.step_end !== null)
      .map((f) => ({
        start: f.step_start as number,
        end: f.step_end as number,
        label: f.name,
        color: cssVar(SEVERITY_BAR[f.severity] ?? "--info") || "#888",
      }));
    // The view of what the headline is about, else of the most severe gradient finding.
    const primary = diagnosis.findings.find((f) => f.name === diagnosis.headline?.finding);
    const preferred = [primary, ...diagnosis.findings]
      .map((f) => (f ? modeOfFinding(f) : null))
      .find((m) => m !== null && matrices.has(m));
    let mode = this.heatmapMode && matrices.has(this.heatmapMode) ? this.heatmapMode : (preferred ?? "grad_norm");

    const switcher = h("div", { class: "segmented", role: "radiogroup", "aria-label": "What the heatmap shows" });
    const caption = h("figcaption", { class: "caption" });
    const heatmap = new Heatmap(switcher);
    const buttons = HEATMAP_MODES.filter((m) => matrices.has(m.mode)).map((m) => {
      const b = h("button", { type: "button", role: "radio", class: "segment", "data-mode": m.mode }, m.label);
      b.addEventListener("click", () => apply(m.mode));
      return b;
    });
    switcher.append(...buttons);
    switcher.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const i = buttons.findIndex((b) => b.dataset.mode === mode);
      const next = buttons[(i + (e.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
      next.focus();
      apply(next.dataset.mode as string);
    });
    const zeros = matrices.get("zero_fraction");
    const apply = (next: string): void => {
      const matrix = matrices.get(next);
      if (!matrix) return;
      mode = next;
      this.heatmapMode = next;
      const label = HEATMAP_MODES.find((m) => m.mode === next)?.label ?? next;
      for (const b of buttons) {
        const on = b.dataset.mode === next;
        b.setAttribute("aria-checked", String(on));
        b.tabIndex = on ? 0 : -1;
      }
      caption.textContent =
        `${label[0].toUpperCase()}${label.slice(1)} per layer (rows, input at the top) and recorded step ` +
        `(columns, one per record, not to scale): ${matrix.layers.length} layers × ${matrix.steps.length} records. ` +
        "Hover for values.";
      heatmap.setData({
        matrix,
        scale: scales[next],
        label,
        mode: next,
        ranges,
        // In the gradient-norm view, layers whose gradients are mostly exactly 0 must not look
        // healthy however large the few others are.
        mask:
          next === "grad_norm" && zeros
            ? {
                matrix: zeros,
                threshold: t.dead_fraction,
                key: { label: `≥ ${fmt(t.dead_fraction * 100)}% exactly 0`, color: MOSTLY_ZERO, title: "Dead: most gradient entries exactly 0" },
              }
            : undefined,
      });
      this.drawAll();
    };
    this.drawables.push(heatmap);
    host.append(h("figure", { class: "heatmap-section" }, caption, heatmap.root));
    apply(mode);
    return apply;
  }

  private layerCharts(host: HTMLElement, gradients: GradientsResponse): void {
    const t = gradients.thresholds;
    const summary = (stat: string): LayerSummary | null => {
      const json = gradients.stats[stat];
      return json ? summarizeLayers(toMatrix(gradients.layers, json)) : null;
    };
    const ratios = summary("update_ratio");
    if (ratios && ratios.layers.length) {
      const low = t.update_ratio_typical_low ?? 1e-4;
      const high = t.update_ratio_typical_high ?? 1e-2;
      this.chart(
        {
          title: "Update-to-weight ratio |Δw|/|w| per step, per layer (input to output): median, whiskers 10th–90th percentile",
          xLabel: "layer",
          yLabel: "|Δw| / |w|",
          categories: ratios.layers,
          series: [
            { label: "median", steps: ratios.index, values: ratios.median, color: cssVar("--train"), pointsOnly: true, markZeros: true },
            { label: "10th percentile", steps: ratios.index, values: ratios.p10, color: cssVar("--range"), hidden: true },
            { label: "90th percentile", steps: ratios.index, values: ratios.p90, color: cssVar("--range"), hidden: true },
          ],
          whiskers: { low: 1, high: 2, color: cssVar("--range") || "#888" },
          yScale: "log",
          band: { low, high, label: `typical ${sci(low)} to ${sci(high)} per step` },
          lines: [
            { value: t.update_ratio_low, label: `flagged below ${sci(t.update_ratio_low)}` },
            { value: t.update_ratio_high, label: `flagged above ${sci(t.update_ratio_high)}` },
          ],
          height: 240,
          note:
            `Shaded: a decade either side of the ~1e-3 per step rule of thumb for the update-to-weight ratio ` +
            `(CS231n notes, "ratio of weights:updates"). The diagnosis flags a median below ` +
            `${sci(t.update_ratio_low)} or above ${sci(t.update_ratio_high)} (dashed). ▲ at the bottom: exactly 0.`,
        },
        host,
      );
    }
    const dead = summary("dead_fraction");
    if (dead && dead.layers.length) {
      this.chart(
        {
          title: "Dead ReLU units per layer (input to output): latest and highest fraction recorded",
          xLabel: "layer",
          yLabel: "dead fraction",
          categories: dead.layers,
          series: [
            { label: "latest", steps: dead.index, values: dead.last, color: cssVar("--validation"), pointsOnly: true },
            { label: "highest", steps: dead.index, values: dead.max, color: cssVar("--range"), pointsOnly: true },
          ],
          yRange: [0, 1],
          band: { low: t.dead_fraction, high: 1, label: "dead", danger: true },
          height: 200,
        },
        host,
      );
    }
  }

  private chart(spec: ChartSpec, host?: HTMLElement): HTMLElement {
    const chart = new LineChart(spec);
    this.drawables.push(chart);
    host?.append(chart.root);
    return chart.root;
  }

  private drawAll(): void {
    for (const d of this.drawables) {
      if (!d.root.isConnected) continue;
      d.draw(Math.max(280, Math.floor(d.root.getBoundingClientRect().width)));
    }
  }

  private status(text: string): void {
    for (const d of this.drawables) d.destroy?.();
    this.drawables = [];
    this.loaded = null;
    this.main.replaceChildren(h("div", { class: "status muted" }, text));
  }

  private error(title: string, err: unknown): void {
    const detail = err instanceof HttpError ? `${err.status}: ${err.message}` : String(err);
    this.main.replaceChildren(h("div", { class: "notice notice-error" }, h("strong", {}, title), h("div", {}, detail)));
    document.body.dataset.drawn = "error";
  }
}

/** "0.01 (constant)" for a metric that never changed, null for one that did. */
function constantText(metric: MetricJson): string | null {
  const s = metric.train ?? metric.validation;
  if (!s || !s.values.length) return null;
  const values = s.values.map(num).filter(Number.isFinite);
  if (!values.length) return null;
  const first = values[0];
  return values.every((v) => Math.abs(v - first) <= 1e-9 * Math.abs(first)) ? `${fmt(first)} (constant)` : null;
}

function safeStorage(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function trySetStorage(key: string, value: string): void {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // Storage may be disabled; remembering the run is only a convenience.
  }
}

function loadStyles(): Promise<void> {
  return new Promise((resolve) => {
    const link = h("link", { rel: "stylesheet", href: "./static/style.css" });
    link.addEventListener("load", () => resolve());
    link.addEventListener("error", () => resolve());
    document.head.append(link);
  });
}

/** Called by TensorBoard once the module is loaded in the plugin's iframe. */
export async function render(): Promise<void> {
  await loadStyles();
  const root = h("div", { id: "fitdiag-root" });
  clear(document.body);
  document.body.append(root);
  await new App(root).start();
}
