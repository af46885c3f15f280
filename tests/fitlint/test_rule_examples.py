"""Every rule's embedded examples run as tests, and every rule carries its documentation."""

from __future__ import annotations

import re

import pytest

from fitlint.api import lint_source
from fitlint.engine import apply_fixes
from fitlint.model import Config
from fitlint.rules.base import Rule, all_rules

RULES = list(all_rules().values())
SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead")


def _valid_cases() -> list[object]:
    return [
        pytest.param(rule, i, id=f"{rule.code}-{rule.name}-valid{i}")
        for rule in RULES
        for i in range(len(rule.valid))
    ]


def _invalid_cases() -> list[object]:
    return [
        pytest.param(rule, i, id=f"{rule.code}-{rule.name}-invalid{i}")
        for rule in RULES
        for i in range(len(rule.invalid))
    ]


def _only(rule: type[Rule]) -> Config:
    return Config(select=(rule.code,))


@pytest.mark.parametrize(("rule", "i"), _valid_cases())
def test_valid_example_is_not_flagged(rule: type[Rule], i: int) -> None:
    result = lint_source(rule.valid[i], "example.py", _only(rule), force=True)
    assert result.error is None
    assert [f for f in result.findings if f.code == rule.code] == []


@pytest.mark.parametrize(("rule", "i"), _invalid_cases())
def test_invalid_example_is_flagged(rule: type[Rule], i: int) -> None:
    example = rule.invalid[i]
    result = lint_source(example.code, "example.py", _only(rule), force=True)
    assert result.error is None
    lines = [f.line for f in result.findings if f.code == rule.code]
    assert example.line in lines, f"expected {rule.code} on line {example.line}, got {lines}"
    if example.fixed is not None:
        fixed, applied = apply_fixes(example.code, result.findings)
        assert applied >= 1
        assert fixed == example.fixed
        again = lint_source(fixed, "example.py", _only(rule), force=True)
        assert [f for f in again.findings if f.code == rule.code and f.fix] == []


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.code}-{r.name}")
def test_rule_is_documented_and_has_examples(rule: type[Rule]) -> None:
    doc = rule.info().doc
    for section in SECTIONS:
        assert section in doc, f"{rule.code} lacks the section {section!r}"
    assert len(rule.valid) >= 3, f"{rule.code} needs at least 3 valid examples"
    assert len(rule.invalid) >= 3, f"{rule.code} needs at least 3 invalid examples"
    assert re.fullmatch(r"FL\d{3}", rule.code)
    assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.name)
    if rule.fixable:
        assert any(ex.fixed is not None for ex in rule.invalid), "a fixable rule shows its fix"


def test_codes_and_names_are_unique() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
