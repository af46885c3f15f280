"""The labelled set: small buggy/fixed Keras programs in ``data/labelled/``.

Each ``NAME_bug.py`` declares the rules it must trigger (``# expect: FL102``, several codes
separated by commas) and each ``NAME_fix.py`` declares none (``# expect: none``): the buggy
file must raise at least its rules, the fixed one none of them. Every rule of the catalog has
a pair, and so has every class of miss that issue 14 lists. ``benchmarks/labelled_recall.py``
prints the recall and the false alarms over the same files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fitlint.api import lint_source
from fitlint.model import Config
from fitlint.rules.base import all_rules

LABELLED = Path(__file__).parent / "data" / "labelled"
_EXPECT = re.compile(r"^# expect: (.+)$", re.MULTILINE)
_ALL = Config(select=("ALL",))


def expected(path: Path) -> frozenset[str]:
    """The codes a labelled file declares (empty for ``none``)."""
    found = _EXPECT.search(path.read_text(encoding="utf-8"))
    assert found is not None, f"{path.name} lacks its '# expect:' line"
    text = found.group(1).strip()
    return frozenset() if text == "none" else frozenset(c.strip() for c in text.split(","))


def found_codes(path: Path) -> set[str]:
    result = lint_source(path.read_text(encoding="utf-8"), path.name, _ALL, force=True)
    assert result.error is None
    return {f.code for f in result.findings}


def _pairs() -> list[str]:
    return sorted(p.name[: -len("_bug.py")] for p in LABELLED.glob("*_bug.py"))


@pytest.mark.parametrize("name", _pairs())
def test_buggy_file_raises_its_rules(name: str) -> None:
    bug = LABELLED / f"{name}_bug.py"
    want = expected(bug)
    assert want, f"{bug.name} declares no rule"
    missing = want - found_codes(bug)
    assert not missing, f"{bug.name}: {sorted(missing)} not raised"


@pytest.mark.parametrize("name", _pairs())
def test_fixed_file_raises_none_of_them(name: str) -> None:
    fixed = LABELLED / f"{name}_fix.py"
    assert expected(fixed) == frozenset()
    raised = expected(LABELLED / f"{name}_bug.py") & found_codes(fixed)
    assert not raised, f"{fixed.name} still raises {sorted(raised)}"


def test_every_file_has_its_pair() -> None:
    bugs = {p.name[: -len("_bug.py")] for p in LABELLED.glob("*_bug.py")}
    fixes = {p.name[: -len("_fix.py")] for p in LABELLED.glob("*_fix.py")}
    assert bugs == fixes
    assert set(LABELLED.glob("*.py")) == {
        *LABELLED.glob("*_bug.py"),
        *LABELLED.glob("*_fix.py"),
    }


def test_every_rule_has_a_pair() -> None:
    covered = set().union(*(expected(p) for p in LABELLED.glob("*_bug.py")))
    assert covered == set(all_rules())
