"""Recall and false alarms of fitlint on the labelled set (``tests/fitlint/data/labelled``).

Each ``*_bug.py`` declares the rules it must trigger (``# expect: FL102``); each ``*_fix.py``
is its fixed version. Recall: the share of declared (file, rule) pairs that fitlint raises on
the buggy files. False alarms: the fixed files that still raise a rule their buggy version
declares, and, apart, every finding on a fixed file with all rules on (some are other,
genuine issues of the snippet, such as FL104 on a fit without validation data).

Usage: python benchmarks/labelled_recall.py [--verbose]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "fitlint" / "data" / "labelled"
_EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)


def _expected(text: str) -> set[str]:
    found = _EXPECT.search(text)
    if found is None or found.group(1).strip() == "none":
        return set()
    return {c.strip() for c in found.group(1).split(",")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list every miss and alarm")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from fitlint.api import lint_source
    from fitlint.model import Config

    config = Config(select=("ALL",))

    def codes(path: Path) -> list[str]:
        result = lint_source(path.read_text(encoding="utf-8"), path.name, config, force=True)
        return [f.code for f in result.findings]

    declared = hit = 0
    misses: list[str] = []
    alarms: list[str] = []
    other: Counter[str] = Counter()
    bugs = sorted(LABELLED.glob("*_bug.py"))
    for bug in bugs:
        want = _expected(bug.read_text(encoding="utf-8"))
        got = set(codes(bug))
        declared += len(want)
        hit += len(want & got)
        misses += [f"{bug.name}: {c}" for c in sorted(want - got)]
        fixed = bug.with_name(bug.name.replace("_bug.py", "_fix.py"))
        fixed_codes = codes(fixed)
        alarms += [f"{fixed.name}: {c}" for c in sorted(want & set(fixed_codes))]
        other.update(c for c in fixed_codes if c not in want)
    print(f"labelled set: {len(bugs)} buggy/fixed pairs, {declared} declared findings")
    print(f"recall on buggy files      {hit}/{declared} = {hit / max(declared, 1):.3f}")
    print(f"false alarms on fixed files {len(alarms)}/{len(bugs)} (a declared rule still raised)")
    print(f"other findings on fixed files (all rules on): {dict(sorted(other.items()))}")
    if args.verbose:
        for line in misses:
            print("miss ", line)
        for line in alarms:
            print("alarm", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
