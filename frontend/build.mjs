// Builds the Fit Diagnosis tab into ../tb_fitdiag/static/ (or the folder given by --outdir).
//
// The output is deterministic: no timestamps, no absolute paths, no source maps, so the
// committed bundle can be compared byte for byte with a fresh build (tests/test_frontend_bundle.py).
import { build } from "esbuild";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const argIndex = process.argv.indexOf("--outdir");
const outdir =
  argIndex >= 0 ? resolve(process.argv[argIndex + 1]) : resolve(here, "../tb_fitdiag/static");
mkdirSync(outdir, { recursive: true });

// uPlot is MIT licensed: keep its notice in the files that bundle it.
const uplot = JSON.parse(readFileSync(resolve(here, "node_modules/uplot/package.json"), "utf8"));
const notice =
  `/*! Fit Diagnosis tab (fitdiag, Apache-2.0). Bundles uPlot v${uplot.version}: ` +
  `Copyright (c) Leon Sorokin, MIT License, https://github.com/leeoniya/uPlot */`;

const common = {
  banner: { js: notice, css: notice },
  absWorkingDir: here,
  bundle: true,
  minify: true,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
};

await build({
  ...common,
  entryPoints: ["src/index.ts"],
  outfile: resolve(outdir, "index.js"),
  format: "esm",
});
await build({
  ...common,
  entryPoints: ["src/style.css"],
  outfile: resolve(outdir, "style.css"),
});
