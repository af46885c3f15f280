"""Regenerates the generated parts of ``docs/diagnose.md``: ``python -m tb_fitdiag.diagnosis.docs``.

The thresholds table is written from :func:`threshold_table`, the causes table from
:data:`CAUSES`; a test fails when the document and the code disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tb_fitdiag.diagnosis.causes import CAUSES
from tb_fitdiag.diagnosis.config import threshold_table

_DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnose.md"


def causes_table() -> str:
    """The Markdown table of every cause the headline can name."""
    rows = ["| Cause | Explains | Fix |", "|---|---|---|"]
    for cause in CAUSES.values():
        explains = ", ".join(f"`{s}`" for s in cause.explains)
        rows.append(f"| `{cause.name}` | {explains} | {cause.fix} |")
    return "\n".join(rows)


def _replace_table(text: str, header: str, table: str) -> str:
    pattern = re.compile(re.escape(header) + r"\|[^\n]*\n(?:\|[^\n]*\n?)*")
    if not pattern.search(text):
        raise SystemExit(f"{_DOC}: no table starting with {header!r}")
    return pattern.sub(lambda _: table + "\n", text, count=1)


def main() -> int:
    """Rewrites the generated tables of docs/diagnose.md in place."""
    text = _DOC.read_text(encoding="utf-8")
    text = _replace_table(text, "| Setting | Default ", threshold_table())
    text = _replace_table(text, "| Cause | Explains ", causes_table())
    _DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
