// Entry point of the "Fit Diagnosis" tab. TensorBoard loads this ES module inside the plugin's
// iframe (whose <base href> is data/plugin/fitdiag/) and calls render().

import {
  api,
  HttpError,
  type DiagnosisResponse,
  type GradientsResponse,
  type RunSummary,
  type StaticFindingsResponse,
} from "./api";
import {
  emptyGradients,
  findingCards,
  headlineBanner,
  staticFindingsPanel,
  stepUnit,
} from "./cards";
import { LineChart, type LineSeries, type Shade } from "./charts";
import { scaleFromThresholds } from "./colormap";
import { clear, cssVar, h } from "./dom";
import { Heatmap, summarizeLayers, toMatrix, type LayerSummary } from "./heatmap";

const GRADIENT_STATS = ["grad_norm", "update_ratio", "dead_fraction"];
const SEVERITY_SHADE: Record<string, string> = {
  error: "--shade-error",
  warning: "--shade-warning",
  info: "--shade-info",
};

interface Loaded {
  run: RunSummary;
  diagnosis: DiagnosisResponse;
  gradients: GradientsResponse | null;
  staticFindings: StaticFindingsResponse;
}

interface Drawable {
  draw(width: number): void;
  destroy?(): void;
}

class App {
  private runs: RunSummary[] = [];
  private selected: string | null = null;
  private request = 0;
  private loaded: Loaded | null = null;
  private drawables: Drawable[] = [];
  private readonly filter = h("input", {
    class: "run-filter",
    type: "search",
    placeholder: "Filter runs by name",
    "aria-label": "Filter runs by name",
  });
  private readonly runCount = h("div", { class: "run-count muted" });
  private readonly runList = h("ul", { class: "run-list", role: "listbox", "aria-label": "Runs" });
  private readonly main = h("main", { class: "content" });

  constructor(root: HTMLElement) {
    root.append(
      h(
        "div",
        { class: "app" },
        h("aside", { class: "sidebar" }, h("div", { class: "brand" }, "Fit Diagnosis"), this.filter, this.runCount, this.runList),
        this.main,
      ),
    );
    this.filter.addEventListener("input", () => this.renderRunList());
    let pending = 0;
    new ResizeObserver(() => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => this.drawAll());
    }).observe(this.main);
    window
      .matchMedia("(prefers-color-scheme: dark)")
      .addEventListener("change", () => this.loaded && this.show(this.loaded));
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
    if (this.runs.length === 0) {
      this.main.replaceChildren(
        h(
          "div",
          { class: "notice" },
          h("h2", {}, "No runs with losses yet"),
          h("p", {}, "Point TensorBoard at a directory written by Keras (keras.callbacks.TensorBoard or FitDiagCallback)."),
          emptyGradients("run1"),
        ),
      );
      document.body.dataset.drawn = "";
      return;
    }
    const remembered = safeStorage("fitdiag.run");
    const first = this.runs.find((r) => r.name === remembered) ?? this.runs[0];
    void this.select(first.name);
  }

  private renderRunList(): void {
    const needle = this.filter.value.trim().toLowerCase();
    const shown = this.runs.filter((r) => r.name.toLowerCase().includes(needle));
    this.runCount.textContent =
      shown.length === this.runs.length ? `${this.runs.length} runs` : `${shown.length} of ${this.runs.length} runs`;
    const items = shown.map((run) => {
      const button = h(
        "button",
        {
          class: "run",
          type: "button",
          role: "option",
          title: run.name,
          "data-run": run.name,
          "aria-selected": String(run.name === this.selected),
        },
        h("span", { class: "run-name" }, run.name),
        run.has_gradients ? h("span", { class: "pill", title: "gradient statistics recorded" }, "∇") : null,
      );
      button.addEventListener("click", () => void this.select(run.name));
      return h("li", {}, button);
    });
    this.runList.replaceChildren(...items);
  }

  async select(name: string): Promise<void> {
    const run = this.runs.find((r) => r.name === name);
    if (!run) return;
    const token = ++this.request;
    this.selected = name;
    document.body.dataset.drawn = "";
    trySetStorage("fitdiag.run", name);
    for (const button of this.runList.querySelectorAll<HTMLButtonElement>("button.run")) {
      button.setAttribute("aria-selected", String(button.dataset.run === name));
    }
    this.status(`Diagnosing ${name}…`);
    performance.mark(`fitdiag-select:${name}`);
    try {
      const [diagnosis, gradients, staticFindings] = await Promise.all([
        api.diagnosis(name),
        run.has_gradients ? api.gradients(name, GRADIENT_STATS) : Promise.resolve(null),
        api.staticFindings(name),
      ]);
      if (token !== this.request) return;
      performance.mark(`fitdiag-fetched:${name}`);
      this.show({ run, diagnosis, gradients, staticFindings });
      performance.mark(`fitdiag-shown:${name}`);
    } catch (err) {
      if (token !== this.request) return;
      this.error(`Could not diagnose ${name}`, err);
      return;
    }
    // Two frames: the first runs after every chart has drawn, the second after it was painted.
    await new Promise(requestAnimationFrame);
    await new Promise(requestAnimationFrame);
    if (token !== this.request) return;
    performance.mark(`fitdiag-drawn:${name}`);
    document.body.dataset.drawn = name;
  }

  private show(data: Loaded): void {
    this.loaded = data;
    for (const d of this.drawables) d.destroy?.();
    this.drawables = [];
    const { run, diagnosis, gradients, staticFindings } = data;
    const doc = staticFindings.static_findings;

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
        ]
          .filter(Boolean)
          .join("  ·  "),
      ),
    );
    const sections: (HTMLElement | null)[] = [header];
    const notes = [...diagnosis.skipped, ...diagnosis.notes];
    if (notes.length) {
      sections.push(h("ul", { class: "notes muted" }, ...notes.map((n) => h("li", {}, n))));
    }
    const banner = headlineBanner(diagnosis.headline ?? null);
    if (banner) sections.push(banner);
    sections.push(h("h2", {}, `Diagnosis (${diagnosis.findings.length})`));
    sections.push(findingCards(diagnosis.findings, doc));
    sections.push(staticFindingsPanel(doc));

    // Loss charts: per epoch (Keras epoch_loss) and per step (the recorded batch loss).
    const shades = (unit: string): Shade[] =>
      diagnosis.findings
        .filter((f) => stepUnit(f) === unit && f.step_start !== null && f.step_end !== null)
        .map((f) => ({
          start: f.step_start as number,
          end: f.step_end as number,
          color: cssVar(SEVERITY_SHADE[f.severity] ?? "--shade-info") || "rgba(200,0,0,0.12)",
        }));
    const lossSeries = (keys: [string, string, string][]): LineSeries[] =>
      keys
        .filter(([key]) => diagnosis.losses[key] && diagnosis.losses[key].steps.length > 0)
        .map(([key, label, color]) => ({
          label,
          steps: diagnosis.losses[key].steps,
          values: diagnosis.losses[key].values,
          color: cssVar(color),
          width: 2,
        }));
    const charts = h("section", { class: "charts" });
    const epochSeries = lossSeries([
      ["train", "training loss", "--train"],
      ["validation", "validation loss", "--validation"],
    ]);
    if (epochSeries.length) {
      const unit = (diagnosis.losses["train"] ?? diagnosis.losses["validation"]).unit;
      this.addChart(charts, {
        title: "Loss (findings shaded)",
        xLabel: unit,
        yLabel: "loss",
        series: epochSeries,
        yScale: "auto",
        shades: shades(unit),
        height: 220,
      });
    }
    const batchSeries = lossSeries([["batch", "recorded batch loss", "--train"]]);
    if (batchSeries.length) {
      this.addChart(charts, {
        title: "Recorded batch loss (findings shaded)",
        xLabel: "step",
        yLabel: "loss",
        series: batchSeries,
        yScale: "auto",
        shades: shades("step"),
        height: 200,
      });
    }
    if (!epochSeries.length && !batchSeries.length) {
      charts.append(h("p", { class: "muted" }, "No loss recorded in this run."));
    }
    sections.push(h("h2", {}, "Loss"), charts);

    // Gradient health.
    sections.push(h("h2", {}, "Gradient health"));
    const grad = gradients?.stats["grad_norm"];
    if (!gradients || !grad || gradients.layers.length === 0) {
      sections.push(emptyGradients(run.name));
    } else {
      const heatmap = new Heatmap();
      heatmap.setData(
        toMatrix(gradients.layers, grad),
        scaleFromThresholds(gradients.thresholds.vanishing_grad_norm, gradients.thresholds.exploding_grad_norm),
        "gradient norm",
      );
      this.drawables.push(heatmap);
      sections.push(
        h(
          "section",
          { class: "heatmap-section" },
          h(
            "figcaption",
            { class: "caption" },
            `Gradient norm per layer (rows, input at the top) and recorded step (columns): ${gradients.layers.length} layers × ${grad.steps.length} records. Hover for values.`,
          ),
          heatmap.root,
        ),
      );
      const perLayer = h("section", { class: "charts" });
      const summary = (stat: string): LayerSummary | null => {
        const json = gradients.stats[stat];
        return json ? summarizeLayers(toMatrix(gradients.layers, json)) : null;
      };
      const ratios = summary("update_ratio");
      if (ratios) {
        const t = gradients.thresholds;
        this.addChart(perLayer, {
          title:
            "Update-to-weight ratio per layer over the run: median, 10th–90th percentile (healthy band shaded)",
          xLabel: "layer",
          yLabel: "|Δw| / |w|",
          xNames: ratios.layers,
          series: [
            { label: "90th percentile", steps: ratios.index, values: ratios.p90, color: cssVar("--range"), width: 1 },
            { label: "median", steps: ratios.index, values: ratios.median, color: cssVar("--train"), width: 2, points: ratios.layers.length < 60 },
            { label: "10th percentile", steps: ratios.index, values: ratios.p10, color: cssVar("--range"), width: 1 },
          ],
          fill: { between: [1, 3], color: cssVar("--range-fill") },
          yScale: "log",
          band: { low: t.update_ratio_low, high: t.update_ratio_high, label: "healthy" },
          height: 230,
        });
      }
      const dead = summary("dead_fraction");
      if (dead) {
        this.addChart(perLayer, {
          title: "Dead ReLU units per layer: latest and highest fraction recorded",
          xLabel: "layer",
          yLabel: "dead fraction",
          xNames: dead.layers,
          series: [
            { label: "latest", steps: dead.index, values: dead.last, color: cssVar("--validation"), width: 2, points: dead.layers.length < 60 },
            { label: "highest", steps: dead.index, values: dead.max, color: cssVar("--range"), width: 1, dash: [4, 3] },
          ],
          yRange: [0, 1],
          band: { low: gradients.thresholds.dead_fraction, high: 1, label: "dead" , danger: true },
          height: 200,
        });
      }
      if (perLayer.childElementCount) sections.push(perLayer);
    }
    this.main.replaceChildren(...sections.filter((s): s is HTMLElement => s !== null));
    this.main.scrollTop = 0;
    this.drawAll();
  }

  private addChart(host: HTMLElement, spec: ConstructorParameters<typeof LineChart>[0]): void {
    const chart = new LineChart(spec);
    this.drawables.push(chart);
    host.append(chart.root);
  }

  private drawAll(): void {
    const style = getComputedStyle(this.main);
    const width = Math.max(
      320,
      Math.floor(this.main.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)),
    );
    for (const d of this.drawables) d.draw(width);
  }

  private status(text: string): void {
    for (const d of this.drawables) d.destroy?.();
    this.drawables = [];
    this.main.replaceChildren(h("div", { class: "status muted" }, text));
  }

  private error(title: string, err: unknown): void {
    const detail = err instanceof HttpError ? `${err.status}: ${err.message}` : String(err);
    this.main.replaceChildren(h("div", { class: "notice notice-error" }, h("strong", {}, title), h("div", {}, detail)));
    document.body.dataset.drawn = "error";
  }
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
