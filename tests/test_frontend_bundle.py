"""The committed bundle in tb_fitdiag/static/ is what frontend/ builds, and stays small.

The rebuild needs Node and npm (``npm ci`` in frontend/, which CI runs before the tests); it is
skipped, with the reason, only when npm is not installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
STATIC = ROOT / "tb_fitdiag" / "static"
MAX_BUNDLE_BYTES = 300 * 1024


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_bundle_is_committed_and_small() -> None:
    files = _files(STATIC)
    assert {"index.js", "style.css"} <= set(files)
    total = sum(len(b) for b in files.values())
    assert total <= MAX_BUNDLE_BYTES, f"bundle is {total} bytes"


def test_bundle_exports_render_and_loads_nothing_external() -> None:
    js = (STATIC / "index.js").read_text(encoding="utf-8")
    assert re.search(r"export\s*\{[^}]*\bas render\b|export\s*\{[^}]*\brender\b", js)
    # TensorBoard's CSP forbids external scripts: no absolute URLs to load from.
    assert not re.search(r"""(?:import|src=|href=)\s*\(?["']https?://""", js)
    # Run names, tags and messages are rendered as text: no HTML parsing sink in the bundle.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in js


def test_dependencies_are_pinned_exactly() -> None:
    package = json.loads((FRONTEND / "package.json").read_text())
    lock = json.loads((FRONTEND / "package-lock.json").read_text())
    assert lock["lockfileVersion"] >= 2
    for name, version in package["devDependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}@{version} is not exact"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version


def test_committed_bundle_matches_a_fresh_build(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        pytest.skip("npm/node are not installed: cannot rebuild the frontend bundle")
    if not (FRONTEND / "node_modules" / "esbuild").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=FRONTEND,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.skip(f"`npm ci` failed (registry unreachable?): {result.stderr.strip()[-300:]}")
    out = tmp_path / "static"
    subprocess.run(
        [node, "build.mjs", "--outdir", str(out)],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
        timeout=300,
    )
    fresh, committed = _files(out), _files(STATIC)
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"rebuild with `npm run build` in frontend/: {stale} differ"
