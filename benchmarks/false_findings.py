"""False findings per file on a corpus of public Keras code that nobody here wrote.

The corpus is listed in ``benchmarks/real_code/SOURCES.toml``: for each file its repository,
path, commit and licence, and ``local``, where it lies under ``benchmarks/real_code/files/``.
The files themselves are third-party code and stay out of the repository (``files/`` is
ignored): collect them with the search tool's file reader (``read_file`` with the repo, path
and commit of each entry), saving each text verbatim at its ``local`` path. Every finding
fitlint raises on them is reviewed in ``benchmarks/real_code/verdicts.toml``, keyed by the
file, the rule and the text of the flagged line, as true (a real problem) or false (the code
is standard and works as written), with a one-line reason.

The script lints the files present through ``fitlint.api``, joins the findings with the
verdicts and prints files, findings, true, false, unreviewed, false findings per file (goal:
at most 0.01) and a per-rule table. Files of the list that are missing are named and counted,
so a partial corpus is never reported as the whole one (exit 1). Unreviewed findings are
listed and make it exit 1, so a new finding cannot hide; verdicts that no longer match a
finding are listed as stale (exit 1 with ``--strict``).

Usage: python benchmarks/false_findings.py [--strict]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "benchmarks" / "real_code"
FILES = CORPUS / "files"
GOAL = 0.01


def _listed() -> list[dict[str, str]]:
    with open(CORPUS / "SOURCES.toml", "rb") as fh:
        return list(tomllib.load(fh).get("file", []))


def _key(rel: str, code: str, text: str) -> tuple[str, str, str]:
    return rel, code, " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="stale verdicts fail too")
    args = parser.parse_args(argv)

    from fitlint import api

    verdicts: dict[tuple[str, str, str], dict[str, object]] = {}
    with open(CORPUS / "verdicts.toml", "rb") as fh:
        for entry in tomllib.load(fh).get("finding", []):
            verdicts[_key(entry["file"], entry["rule"], entry["code"])] = entry

    listed = _listed()
    present = [FILES / e["local"] for e in listed if (FILES / e["local"]).is_file()]
    missing = [e for e in listed if not (FILES / e["local"]).is_file()]
    files = sorted(present)
    counts: Counter[str] = Counter()
    per_rule: dict[str, Counter[str]] = {}
    unreviewed: list[str] = []
    errors: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for path in files:
        rel = path.relative_to(FILES).as_posix()
        result = api.lint_file(path)
        if result.error:
            errors.append(result.error)
        for f in result.findings:
            key = _key(rel, f.code, result.source_line(f) or "")
            seen.add(key)
            verdict = verdicts.get(key)
            status = "unreviewed" if verdict is None else str(bool(verdict["verdict"])).lower()
            counts[status] += 1
            per_rule.setdefault(f"{f.code} {f.name}", Counter())[status] += 1
            if verdict is None:
                where = f"cell {f.cell}:{f.line}" if f.cell is not None else str(f.line)
                unreviewed.append(f"  {rel}:{where}: {f.code} {f.message}")
    stale = sorted(k for k in verdicts if k not in seen)

    unlisted = (
        sorted(
            p.relative_to(FILES).as_posix()
            for p in FILES.rglob("*")
            if p.suffix in (".py", ".ipynb") and p.is_file() and p not in set(present)
        )
        if FILES.is_dir()
        else []
    )
    total = sum(counts.values())
    rate = counts["false"] / len(files) if files else 0.0
    print(f"files        {len(files)}")
    print(f"findings     {total}")
    print(f"true         {counts['true']}")
    print(f"false        {counts['false']}")
    print(f"unreviewed   {counts['unreviewed']}")
    print(f"false/file   {rate:.3f}   (goal <= {GOAL})")
    print()
    print(f"{'rule':<38} {'true':>5} {'false':>6} {'unrev':>6}")
    for rule in sorted(per_rule):
        c = per_rule[rule]
        print(f"{rule:<38} {c['true']:>5} {c['false']:>6} {c['unreviewed']:>6}")
    for e in errors:
        print(f"error: {e}")
    if stale:
        print(f"\n{len(stale)} verdict(s) match no finding any more (a fix, or a moved line):")
        for rel, code, text in stale:
            print(f"  {rel}: {code}: {text}")
    if unlisted:
        print(f"\n{len(unlisted)} file(s) under files/ are not in SOURCES.toml (not counted):")
        print("\n".join(f"  {rel}" for rel in unlisted))
    if missing:
        print(
            f"\nMISSING: {len(missing)} of the {len(listed)} files of SOURCES.toml are not under "
            f"{FILES.relative_to(ROOT)}/ (third-party code stays out of the repository: fetch "
            "each with the search tool's read_file at its repo, path and commit):"
        )
        print(
            "\n".join(f"  {e['local']}  ({e['repo']} {e['path']} @ {e['commit']})" for e in missing)
        )
    if unreviewed:
        print(f"\nUNREVIEWED: {len(unreviewed)} finding(s) have no verdict in verdicts.toml:")
        print("\n".join(unreviewed))
        return 1
    return 1 if (args.strict and stale) or errors or missing else 0


if __name__ == "__main__":
    sys.exit(main())
