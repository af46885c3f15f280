"""``--fix`` and ``--diff``: without losing a byte. The command line runs the real
``removed-keras-argument`` fixes; the pipeline's refusal is proven with a test-only rule whose
fix breaks the code."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitlint import api
from fitlint.cli import main
from fitlint.rules.base import Replacement, Report, Rule, RuleContext, all_rules

REMOVED = next(r for r in all_rules().values() if r.name == "removed-keras-argument")

BROKEN = (
    "import keras\n"
    "\n"
    "opt = keras.optimizers.Adam(lr=0.001)\n"
    "model = keras.Sequential([keras.layers.Dense(1)])\n"
    "model.compile(optimizer=opt, loss='mse')\n"
    "model.fit(x, y, nb_epoch=10, batch_size=32)\n"
)
FIXED = BROKEN.replace("lr=", "learning_rate=").replace("nb_epoch=", "epochs=")


class _BreakingFix(Rule):
    """Test-only rule (not registered): its fix replaces every call with unparsable text."""

    name = "test-breaking-fix"
    message = "breaks"
    fixable = True

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        for site in ctx.index.calls:
            yield self.report(
                site.node, fix_message="break", replacements=(Replacement(site.node, "((("),)
            )


_BreakingFix.code = "FL991"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--no-cache", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_fix_writes_the_fixed_file_and_reports_what_remains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "train.py"
    path.write_text(BROKEN, encoding="utf-8")
    code, out, _ = _run(capsys, "--fix", "--select", REMOVED.code, str(path))
    assert path.read_text(encoding="utf-8") == FIXED
    assert code == 0
    assert "(2 fixed, 0 remaining)" in out
    # A second run changes nothing and finds nothing.
    code, out, _ = _run(capsys, "--fix", "--select", REMOVED.code, str(path))
    assert code == 0 and path.read_text(encoding="utf-8") == FIXED
    assert "No fixes to apply" in out


def test_fix_keeps_unfixable_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "train.py"
    source = BROKEN + "sgd = keras.optimizers.SGD(0.01, decay=1e-6)\n"
    path.write_text(source, encoding="utf-8")
    code, out, _ = _run(capsys, "--fix", "--select", REMOVED.code, "--format", "concise", str(path))
    assert code == 1
    assert (
        path.read_text(encoding="utf-8") == FIXED + "sgd = keras.optimizers.SGD(0.01, decay=1e-6)\n"
    )
    assert f"{path}:7:" in out and "decay" in out


def test_diff_prints_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "train.py"
    path.write_text(BROKEN, encoding="utf-8")
    code, out, _ = _run(capsys, "--diff", "--select", REMOVED.code, str(path))
    assert code == 1
    assert path.read_text(encoding="utf-8") == BROKEN
    assert f"--- a/{path}" in out
    assert "-opt = keras.optimizers.Adam(lr=0.001)" in out
    assert "+opt = keras.optimizers.Adam(learning_rate=0.001)" in out
    assert "+model.fit(x, y, epochs=10, batch_size=32)" in out
    path.write_text(FIXED, encoding="utf-8")
    code, out, _ = _run(capsys, "--diff", "--select", REMOVED.code, str(path))
    assert (code, out) == (0, "")


def test_fix_and_diff_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--fix", "--diff", "x.py"])
    assert exc.value.code == 2
    assert "cannot be combined" in capsys.readouterr().err


def test_fix_on_stdin_prints_the_fixed_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import io

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BROKEN.encode())))
    code, out, err = _run(capsys, "--fix", "--select", REMOVED.code, "-")
    assert out == FIXED
    assert code == 0 and "2 fixed" in err


@pytest.mark.parametrize(
    ("encoded", "label"),
    [
        pytest.param(BROKEN.replace("\n", "\r\n").encode(), "crlf", id="crlf"),
        pytest.param(b"\xef\xbb\xbf" + BROKEN.encode(), "bom", id="utf8-bom"),
        pytest.param(
            ("# -*- coding: latin-1 -*-\n# caf\u00e9 \u00e0 la cr\u00e8me\n" + BROKEN).encode(
                "latin-1"
            ),
            "latin-1",
            id="latin-1-cookie",
        ),
        pytest.param(("# \u2713 unicode\n" + BROKEN).encode(), "utf-8", id="utf-8"),
        pytest.param(BROKEN.rstrip("\n").encode(), "no-final-newline", id="no-final-newline"),
    ],
)
def test_fix_keeps_encoding_and_line_endings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoded: bytes, label: str
) -> None:
    path = tmp_path / "train.py"
    path.write_bytes(encoded)
    code, _, err = _run(capsys, "--fix", "--select", REMOVED.code, str(path))
    assert code == 0, err
    expected = encoded.replace(b"lr=", b"learning_rate=").replace(b"nb_epoch=", b"epochs=")
    assert path.read_bytes() == expected, label


def test_fix_keeps_mode_and_leaves_no_temporary_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "train.py"
    path.write_text(BROKEN, encoding="utf-8")
    os.chmod(path, 0o754)
    link = tmp_path / "link.py"
    link.symlink_to(path)
    code, _, _ = _run(capsys, "--fix", "--select", REMOVED.code, str(link))
    assert code == 0
    assert link.is_symlink()  # the link still points at the file that was fixed
    assert path.read_text(encoding="utf-8") == FIXED
    assert stat.S_IMODE(path.stat().st_mode) == 0o754
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.py", "train.py"]


def test_fix_that_would_not_parse_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    path.write_bytes(BROKEN.encode())
    before = path.stat().st_mtime_ns
    outcome = api.fix_file(path, rules=[_BreakingFix()])
    assert outcome.refused is not None
    assert outcome.refused.startswith("fix refused: result does not parse")
    assert not outcome.changed and outcome.applied == 0
    assert path.read_bytes() == BROKEN.encode()
    assert path.stat().st_mtime_ns == before
    assert [f.code for f in outcome.result.findings] == ["FL991"] * 5


def test_fix_source_loops_to_a_fixed_point() -> None:
    outcome = api.fix_source(BROKEN, "train.py", rules=[REMOVED()])
    assert outcome.fixed == FIXED and outcome.applied == 2
    again = api.fix_source(outcome.fixed, "train.py", rules=[REMOVED()])
    assert again.applied == 0 and again.fixed == FIXED


def test_unreadable_file_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "--fix", str(tmp_path / "missing.py"))
    assert code == 2
    assert err.strip() == f"fitlint: error: {tmp_path / 'missing.py'}: no such file or directory"


def test_fix_notebook_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Training ✓"]},
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "outputs": [],
            "source": ["!pip install keras\n", "import keras"],
        },
        {
            "cell_type": "code",
            "execution_count": 2,
            "metadata": {},
            "outputs": [],
            "source": ["%%time\n", "opt = keras.optimizers.Adam(lr=0.001)"],
        },
    ]
    nb = {
        "cells": cells,
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "train.ipynb"
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    code, out, _ = _run(capsys, "--diff", "--select", REMOVED.code, str(path))
    assert code == 1 and f"a/{path}:cell 3" in out
    code, _, err = _run(capsys, "--fix", "--select", REMOVED.code, str(path))
    assert code == 0, err
    nb["cells"][2]["source"][1] = "opt = keras.optimizers.Adam(learning_rate=0.001)"
    assert path.read_text(encoding="utf-8") == json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
    code, _, _ = _run(capsys, "--diff", "--select", REMOVED.code, str(path))
    assert code == 0
