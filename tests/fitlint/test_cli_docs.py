"""The generated rule reference: `python -m fitlint.docs` is what docs/rules.md holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fitlint import docs
from fitlint.rules.base import all_rules

ROOT = Path(__file__).resolve().parents[2]


def test_rules_md_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == docs.reference_markdown(), (
        "docs/rules.md is stale: run `python -m fitlint.docs > docs/rules.md`"
    )


def test_module_prints_the_reference_as_utf8() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fitlint.docs"], capture_output=True, check=True, cwd=ROOT
    )
    assert proc.stdout.decode("utf-8") == docs.reference_markdown()


def test_reference_documents_every_rule() -> None:
    text = docs.reference_markdown()
    for code, rule in all_rules().items():
        assert f"\n## {code} {rule.name}\n" in text
        assert f"| [{code}](#{code.lower()}-{rule.name}) | `{rule.name}` |" in text
        section = docs.rule_markdown(rule)
        assert "### What it does" in section and "### Use instead" in section
        for option, default in rule.options.items():
            assert f"`{option}` (default `{default}`)" in section


def test_find_rule_by_code_or_name() -> None:
    rule = all_rules()["FL000"]
    assert docs.find_rule("FL000") is rule
    assert docs.find_rule("fl000") is rule
    assert docs.find_rule("syntax-error") is rule
    assert docs.find_rule("nope") is None
