// Diagnosis cards (most severe first, as the engine orders them), the fitlint findings recorded
// at train start, and the empty state for runs without gradient statistics.

import type { Finding, Headline, LiveFinding, StaticFindingsResponse } from "./api";
import { h } from "./dom";
import { evidenceView } from "./evidence";
import { locationView, type SourceLocation } from "./location";

const SEVERITY_LABEL: Record<string, string> = { error: "Error", warning: "Warning", info: "Info" };

export function stepUnit(finding: Finding): string {
  const unit = finding.evidence["step_unit"];
  return typeof unit === "string" ? unit : "step";
}

function rangeText(finding: Finding): string {
  const unit = stepUnit(finding);
  const { step_start: a, step_end: b } = finding;
  if (a === null || b === null) return "";
  return a === b ? `${unit} ${a}` : `${unit}s ${a}–${b}`;
}

interface StaticCause {
  path: string;
  line: number;
  name: string;
  message: string;
}

function staticCauses(value: unknown): StaticCause[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((v): v is Record<string, unknown> => typeof v === "object" && v !== null)
    .map((v) => ({
      path: String(v["path"] ?? ""),
      line: Number(v["line"] ?? 0),
      name: String(v["name"] ?? ""),
      message: String(v["message"] ?? ""),
    }));
}

/** What a card can ask of the page: the heatmap view that shows its finding. */
export interface CardActions {
  heatmapMode(finding: Finding): { mode: string; label: string } | null;
  showInHeatmap(mode: string): void;
}

/** "said while training at step 80 (Keras's epoch 9), as error": the words of `fitdiag diagnose`. */
export function liveText(said: LiveFinding): string {
  return `said while training at step ${said.step} (Keras's epoch ${said.epoch + 1}), as ${said.severity}`;
}

/** The findings said while training that no card shows (the final diagnosis did not raise them). */
function liveOnly(live: LiveFinding[], findings: Finding[]): HTMLElement | null {
  const shown = new Set(findings.map((f) => f.name));
  const rest = live.filter((l) => !shown.has(l.name));
  if (!rest.length) return null;
  return h(
    "div",
    { class: "live-only muted" },
    "Said while training, not raised by the diagnosis of the whole run: ",
    ...rest.flatMap((l, i) => [i ? "; " : "", h("code", {}, l.name), ` ${liveText(l)}`]),
  );
}

export function findingCards(
  findings: Finding[],
  staticFindings: StaticFindingsResponse["static_findings"],
  actions?: CardActions,
  live: LiveFinding[] = [],
): HTMLElement {
  if (findings.length === 0) {
    return h(
      "div",
      {},
      h(
        "div",
        { class: "card card-ok" },
        h("div", { class: "card-title" }, "No problems found"),
        h("p", {}, "The diagnosis found nothing wrong with this run's losses or gradients."),
      ),
      liveOnly(live, findings),
    );
  }
  const list = h("div", { class: "cards" });
  const recorded = staticFindings?.findings ?? [];
  const staticByRule = new Map<string, SourceLocation[]>();
  for (const f of recorded) {
    const where = { path: f.path, line: f.line, column: f.column };
    staticByRule.set(f.name, [...(staticByRule.get(f.name) ?? []), where]);
  }
  // The column of a cause, from the recorded finding at the same place.
  const column = (c: StaticCause): number | null =>
    recorded.find((f) => f.path === c.path && f.line === c.line && f.name === c.name)?.column ?? null;
  for (const finding of findings) {
    const severity = SEVERITY_LABEL[finding.severity] ? finding.severity : "info";
    const evidence = evidenceView(finding.evidence, stepUnit(finding));
    const causes = staticCauses(finding.evidence["static_causes"]);
    const rules = h("ul", { class: "suggestions" });
    for (const rule of finding.suggestions) {
      const here = causes.filter((c) => c.name === rule);
      const where: SourceLocation[] = here.length
        ? here.map((c) => ({ path: c.path, line: c.line, column: column(c) }))
        : (staticByRule.get(rule) ?? []);
      const flagged = where.length
        ? h(
            "span",
            { class: "flagged" },
            " — flagged by fitlint at ",
            ...where.flatMap((w, i) => (i ? [", ", locationView(w)] : [locationView(w)])),
          )
        : null;
      rules.append(h("li", {}, h("code", {}, rule), flagged));
    }
    const view = actions?.heatmapMode(finding) ?? null;
    let show: HTMLElement | null = null;
    if (view && actions) {
      show = h("button", { class: "link-button show-heatmap", type: "button", "data-mode": view.mode }, `Show ${view.label} in the heatmap`);
      show.addEventListener("click", () => actions.showInHeatmap(view.mode));
    }
    list.append(
      h(
        "article",
        { class: `card card-${severity}`, "data-finding": finding.name },
        h(
          "div",
          { class: "card-head" },
          h("span", { class: `badge badge-${severity}` }, SEVERITY_LABEL[severity]),
          h("span", { class: "card-title" }, finding.name),
          h("span", { class: "card-range" }, rangeText(finding)),
        ),
        h("p", { class: "card-message" }, finding.message),
        ...live
          .filter((l) => l.name === finding.name)
          .map((l) => h("p", { class: "card-live", "data-step": String(l.step) }, `${liveText(l)[0].toUpperCase()}${liveText(l).slice(1)}`)),
        finding.summary ? h("p", { class: "card-summary muted" }, finding.summary) : null,
        evidence,
        show,
        finding.remedy
          ? h("div", { class: "card-fixes" }, h("span", { class: "fixes-title" }, "Suggested fix: "), finding.remedy)
          : null,
        finding.suggestions.length
          ? h(
              "div",
              { class: "card-fixes" },
              h("span", { class: "fixes-title" }, "Likely static causes (fitlint rules):"),
              rules,
            )
          : null,
      ),
    );
  }
  const rest = liveOnly(live, findings);
  if (rest) list.append(rest);
  return list;
}

export function staticFindingsPanel(doc: StaticFindingsResponse["static_findings"]): HTMLElement {
  const panel = h("section", { class: "static-findings" });
  if (!doc) {
    panel.append(
      h("h2", {}, "fitlint findings"),
      h("p", { class: "muted" }, "No fitlint findings were recorded for this run (FitDiagCallback records them at train start)."),
    );
    return panel;
  }
  panel.append(h("h2", {}, "fitlint findings for ", h("code", {}, doc.script)));
  if (doc.error) {
    panel.append(h("p", { class: "muted" }, `The script could not be linted: ${doc.error}`));
    return panel;
  }
  if (doc.findings.length === 0) {
    panel.append(h("p", { class: "muted" }, `fitlint ${doc.fitlint_version} found nothing in the script.`));
    return panel;
  }
  const table = h("table", { class: "static-table" });
  table.append(h("thead", {}, h("tr", {}, h("th", {}, "where"), h("th", {}, "rule"), h("th", {}, "message"))));
  const body = h("tbody");
  for (const f of doc.findings) {
    const sev = SEVERITY_LABEL[f.severity] ? f.severity : "info";
    body.append(
      h(
        "tr",
        {},
        h("td", { class: "where" }, locationView({ path: f.path, line: f.line, column: f.column })),
        h("td", {}, h("span", { class: `badge badge-${sev}` }, f.code), " ", h("code", {}, f.name)),
        h("td", {}, f.message),
      ),
    );
  }
  table.append(body);
  panel.append(table);
  return panel;
}

export function emptyGradients(run: string): HTMLElement {
  const logDir = `logs/${run}`;
  const snippet = [
    "from tb_fitdiag import FitDiagCallback",
    "",
    "model.fit(",
    "    x_train, y_train,",
    "    validation_data=(x_val, y_val),",
    "    epochs=20,",
    `    callbacks=[FitDiagCallback(log_dir=${JSON.stringify(logDir)}, interval=10)],`,
    ")",
  ].join("\n");
  return h(
    "section",
    { class: "empty-state" },
    h("h2", {}, "No gradient statistics in this run"),
    h(
      "p",
      {},
      "The losses above are diagnosed, but gradient health needs per-layer statistics. " +
        "Record them by adding FitDiagCallback to model.fit():",
    ),
    h("pre", { class: "snippet" }, h("code", {}, snippet)),
    h(
      "p",
      { class: "muted" },
      "It writes into the same train/ and validation/ folders as keras.callbacks.TensorBoard; " +
        "this page picks the statistics up by itself once training has started.",
    ),
  );
}

/** The run's most likely cause and its fix, above the cards; nothing when nothing was raised. */
export function headlineBanner(
  headline: Headline | null,
  staticFindings: StaticFindingsResponse["static_findings"] = null,
): HTMLElement | null {
  if (!headline) return null;
  const cause = headline.static;
  const column = cause
    ? (staticFindings?.findings.find((f) => f.path === cause.path && f.line === cause.line && f.name === cause.name)
        ?.column ?? null)
    : null;
  const where = headline.static
    ? h(
        "span",
        { class: "headline-where", title: headline.static.message },
        " at ",
        locationView({ path: headline.static.path, line: headline.static.line, column }),
      )
    : null;
  return h(
    "div",
    { class: "headline", role: "status" },
    h(
      "div",
      { class: "headline-cause" },
      h("span", { class: "headline-label" }, "Most likely cause: "),
      h("code", {}, headline.cause),
      where,
    ),
    h("div", { class: "headline-message" }, headline.message),
    h(
      "div",
      { class: "headline-fix" },
      h("span", { class: "fixes-title" }, "Fix: "),
      headline.fix,
    ),
    h("div", { class: "headline-explains muted" }, `Explains: ${headline.explains.join(", ")}`),
  );
}
