// Minimal DOM construction. Every piece of data is set through textContent or attributes,
// never parsed as HTML.

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

export function clear(node: Element): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Formats a number for display: compact, scientific for very small or large magnitudes. */
export function fmt(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined) return "—";
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(digits - 1);
  return String(Number(value.toPrecision(digits)));
}

/** Reads a CSS custom property of the document (theme colours). */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** A threshold as people write it: 1e-4, 0.01, 100 (powers of ten as 1eN below 0.01). */
export function sci(value: number): string {
  if (value > 0) {
    const e = Math.log10(value);
    if (Math.abs(e - Math.round(e)) < 1e-9 && (e < -2 || e > 4)) return `1e${Math.round(e)}`;
  }
  return fmt(value);
}
