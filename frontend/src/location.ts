// A fitlint location (path:line) the user can use: a link that opens the file at the line in
// VS Code (only for absolute paths: a relative one has nothing to resolve against), and a
// button that copies `path:line`. Paths come from the training run's logs, so they are set
// through attributes and textContent only, and percent-encoded in the link.

import { h } from "./dom";

export interface SourceLocation {
  path: string;
  line: number | null;
  column?: number | null;
}

/** POSIX (`/home/me/train.py`) or Windows (`C:\\work\\train.py`, `C:/work/train.py`). */
export function isAbsolutePath(path: string): boolean {
  return path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path);
}

/** `path:line` (just the path when the line is unknown). */
export function locationText(loc: SourceLocation): string {
  return loc.line ? `${loc.path}:${loc.line}` : loc.path;
}

/**
 * The `vscode://file/<absolute path>:<line>:<column>` link, or null for a relative path.
 * Each path segment is percent-encoded, so no character of the path can end the URL early or
 * change its scheme.
 */
export function editorHref(loc: SourceLocation): string | null {
  if (!isAbsolutePath(loc.path)) return null;
  const parts = loc.path.replace(/\\/g, "/").split("/");
  const encoded = parts
    .map((part, i) => (i === 0 && /^[A-Za-z]:$/.test(part) ? part : encodeURIComponent(part)))
    .join("/");
  const path = encoded.startsWith("/") ? encoded : `/${encoded}`;
  const line = loc.line && loc.line > 0 ? Math.floor(loc.line) : 1;
  const column = loc.column && loc.column > 0 ? Math.floor(loc.column) : 1;
  return `vscode://file${path}:${line}:${column}`;
}

async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // The plugin's iframe may not be allowed the asynchronous clipboard: fall back below.
  }
  const area = h("textarea", { class: "copy-buffer", readonly: "", "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** A button that copies `text` and says so. */
export function copyButton(text: string, what = text): HTMLButtonElement {
  const button = h(
    "button",
    { class: "copy", type: "button", title: `Copy ${what}`, "aria-label": `Copy ${what}`, "data-copy": text },
    "Copy",
  );
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    void copyText(text).then((ok) => {
      button.textContent = ok ? "Copied" : "Copy failed";
      button.dataset.copied = String(ok);
      window.setTimeout(() => {
        button.textContent = "Copy";
      }, 1500);
    });
  });
  return button;
}

/** `path:line` as a link into the editor (absolute paths) and a copy button. */
export function locationView(loc: SourceLocation): HTMLElement {
  const text = locationText(loc);
  const href = editorHref(loc);
  const label = href
    ? h("a", { class: "loc-link mono", href, title: `Open ${text} in VS Code` }, text)
    : h("span", { class: "loc-text mono", title: "A relative path: copy it to open it in your editor" }, text);
  return h("span", { class: "location" }, label, copyButton(text));
}
