"""The command line: every option, exit codes, file discovery, standard input, notebooks."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fitlint import config
from fitlint.cli import build_parser, main
from fitlint.rules.base import all_rules

BROKEN = "import keras\nmodel.fit(x, y, epochs=10\n"  # FL000 on line 2
CLEAN = "import keras\nx = 1\n"
REMOVED = next(r for r in all_rules().values() if r.name == "removed-keras-argument")
FIXABLE = "import keras\nopt = keras.optimizers.Adam(lr=0.001)\n"


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    config.clear_cache()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--no-cache", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _paths(out: str) -> list[str]:
    return sorted({o["path"] for o in json.loads(out)})


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("files", "argv", "expected"),
    [
        pytest.param({"a.py": CLEAN}, ["a.py"], 0, id="clean"),
        pytest.param({"a.py": BROKEN}, ["a.py"], 1, id="findings"),
        pytest.param({"a.py": BROKEN}, ["--exit-zero", "a.py"], 0, id="exit-zero"),
        pytest.param({}, ["missing.py"], 2, id="missing-file"),
        pytest.param({"a.py": BROKEN}, ["--select", "FL999", "a.py"], 2, id="unknown-rule"),
        pytest.param(
            {"a.py": BROKEN, "pyproject.toml": "[tool.fitlint]\nbad-key = 1\n"},
            ["a.py"],
            2,
            id="bad-config",
        ),
        pytest.param(
            {"a.py": BROKEN}, ["--exit-zero", "a.py", "missing.py"], 2, id="errors-beat-exit-zero"
        ),
    ],
)
def test_exit_codes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    argv: list[str],
    expected: int,
) -> None:
    _write(tmp_path, files)
    code, _, err = _run(capsys, *argv)
    assert code == expected
    if expected == 2:
        assert err.startswith("fitlint: error: ")
        assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-path"),
        pytest.param(["--format", "xml", "a.py"], id="bad-format"),
        pytest.param(["--jobs", "0", "a.py"], id="bad-jobs"),
        pytest.param(["-", "a.py"], id="stdin-and-paths"),
        pytest.param(["--per-file-ignores", "FL000", "a.py"], id="bad-per-file-ignores"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "fitlint: error:" in capsys.readouterr().err


def test_config_error_names_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, {"a.py": BROKEN, "pyproject.toml": "[tool.fitlint]\nselcet = []\n"})
    code, _, err = _run(capsys, "a.py")
    assert code == 2
    assert err == (
        f"fitlint: error: {tmp_path / 'pyproject.toml'}: unknown key 'selcet' in "
        f"[tool.fitlint] (known: {', '.join(config.KNOWN_KEYS)})\n"
    )


def test_invalid_toml_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, {"a.py": BROKEN, "pyproject.toml": "[tool.fitlint]\nselect = [\n"})
    code, _, err = _run(capsys, "a.py")
    assert code == 2
    assert f"{tmp_path / 'pyproject.toml'}: invalid TOML: " in err and "(line " in err


@pytest.mark.parametrize(
    ("argv", "found"),
    [
        pytest.param([], True, id="default"),
        pytest.param(["--select", "FL000"], True, id="select-code"),
        pytest.param(["--select", "syntax-error"], True, id="select-name"),
        pytest.param(["--select", "FL0"], True, id="select-prefix"),
        pytest.param(["--select", REMOVED.code], False, id="select-other"),
        pytest.param(["--ignore", "FL000"], False, id="ignore-code"),
        pytest.param(["--ignore", "syntax-error"], False, id="ignore-name"),
        pytest.param(
            ["--select", REMOVED.code, "--extend-select", "FL000"], True, id="extend-select"
        ),
        pytest.param(["--select", f"{REMOVED.code},FL000"], True, id="comma-list"),
        pytest.param(["--per-file-ignores", "a.py:FL000"], False, id="per-file-ignores"),
        pytest.param(["--per-file-ignores", "b.py:FL000"], True, id="per-file-ignores-other"),
    ],
)
def test_rule_selection_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], found: bool
) -> None:
    _write(tmp_path, {"a.py": BROKEN})
    code, out, _ = _run(capsys, "--format", "json", *argv, "a.py")
    assert bool(json.loads(out)) is found
    assert code == (1 if found else 0)


def test_pyproject_settings_apply_and_cli_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(
        tmp_path,
        {
            "pyproject.toml": "[tool.fitlint]\nignore = ['FL000']\n"
            "[tool.fitlint.per-file-ignores]\n'legacy/*.py' = ['removed-keras-argument']\n",
            "a.py": BROKEN,
            "legacy/old.py": FIXABLE,
            "new.py": FIXABLE,
        },
    )
    _, out, _ = _run(capsys, "--format", "json", ".")
    assert _paths(out) == ["new.py"]
    _, out, _ = _run(capsys, "--format", "json", "--extend-select", "FL000", ".")
    assert _paths(out) == ["a.py", "new.py"]
    _, out, _ = _run(capsys, "--format", "json", "--isolated", ".")
    assert _paths(out) == ["a.py", "legacy/old.py", "new.py"]
    (tmp_path / "other.toml").write_text("[tool.fitlint]\nselect = ['FL000']\n")
    _, out, _ = _run(capsys, "--format", "json", "--config", "other.toml", ".")
    assert _paths(out) == ["a.py"]


def test_directories_respect_gitignore_and_excludes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    _write(
        tmp_path,
        {
            ".gitignore": "ignored_dir/\n*_generated.py\n!keep_generated.py\n",
            "src/a.py": BROKEN,
            "src/model_generated.py": BROKEN,
            "src/keep_generated.py": BROKEN,
            "src/.gitignore": "local.py\n",
            "src/local.py": BROKEN,
            "ignored_dir/b.py": BROKEN,
            ".venv/lib/c.py": BROKEN,
            "build/d.py": BROKEN,
            "notes/e.ipynb": json.dumps(
                {
                    "cells": [
                        {
                            "cell_type": "code",
                            "source": BROKEN,
                            "metadata": {},
                            "outputs": [],
                            "execution_count": None,
                        }
                    ],
                    "metadata": {},
                    "nbformat": 4,
                    "nbformat_minor": 5,
                }
            ),
            "data.txt": BROKEN,
        },
    )
    _, out, _ = _run(capsys, "--format", "json", ".")
    assert _paths(out) == ["notes/e.ipynb", "src/a.py", "src/keep_generated.py"]
    # The gitignore of a parent applies when linting a subdirectory.
    _, out, _ = _run(capsys, "--format", "json", "src")
    assert _paths(out) == ["src/a.py", "src/keep_generated.py"]
    _, out, _ = _run(capsys, "--format", "json", "--no-respect-gitignore", ".")
    assert _paths(out) == [
        "ignored_dir/b.py",
        "notes/e.ipynb",
        "src/a.py",
        "src/keep_generated.py",
        "src/local.py",
        "src/model_generated.py",
    ]
    _, out, _ = _run(capsys, "--format", "json", "--extend-exclude", "notes,keep_*", ".")
    assert _paths(out) == ["src/a.py"]
    _, out, _ = _run(capsys, "--format", "json", "--exclude", "src", ".")
    assert "build/d.py" in _paths(out) and "src/a.py" not in _paths(out)
    # A file named explicitly is linted even when ignored, unless --force-exclude.
    _, out, _ = _run(capsys, "--format", "json", "--extend-exclude", "src", "src/a.py")
    assert _paths(out) == ["src/a.py"]
    code, out, _ = _run(
        capsys, "--format", "json", "--force-exclude", "--extend-exclude", "src", "src/a.py"
    )
    assert (code, json.loads(out)) == (0, [])


def test_stdin_with_stdin_filename(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, {"pyproject.toml": "[tool.fitlint.per-file-ignores]\n'skip/*' = ['FL000']\n"})
    for name, expected in (("pkg/train.py", 1), ("skip/train.py", 0)):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BROKEN.encode())))
        code, out, _ = _run(capsys, "--format", "concise", "--stdin-filename", name, "-")
        assert code == expected
        if expected:
            assert out.startswith(f"{name}:2:10: FL000")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BROKEN.encode())))
    code, out, _ = _run(capsys, "--format", "json", "-")
    assert code == 1 and json.loads(out)[0]["path"] == "-"


def test_stdin_notebook(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# x"]},
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": 1,
                "source": ["!pip install keras\n", "%matplotlib inline\n", "import keras\n"],
            },
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": 2,
                "source": ["%%time\n", "model.fit(x, y,\n"],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(nb).encode())))
    code, out, _ = _run(capsys, "--stdin-filename", "nb.ipynb")
    assert code == 1
    assert out.startswith("nb.ipynb:cell 3:2:10: error: FL000 syntax-error")
    assert "    2 | model.fit(x, y,\n" in out


def test_output_file_statistics_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, {"a.py": BROKEN, "b.py": BROKEN + FIXABLE, "c.py": FIXABLE})
    code, out, _ = _run(capsys, "--statistics", "--select", f"FL000,{REMOVED.code}", ".")
    assert code == 1
    assert out.splitlines() == [
        "    2\tFL000\t    syntax-error",
        f"    1\t{REMOVED.code}\t[*] removed-keras-argument",
    ]
    code, out, _ = _run(
        capsys, "--statistics", "--format", "json", "--select", f"FL000,{REMOVED.code}", "."
    )
    assert json.loads(out)[0] == {
        "code": "FL000",
        "name": "syntax-error",
        "count": 2,
        "fixable": False,
    }
    code, out, _ = _run(capsys, "--output-file", "report.json", "--format", "json", ".")
    assert code == 1 and out == ""
    report = json.loads((tmp_path / "report.json").read_text())
    assert {o["path"] for o in report} >= {"a.py", "b.py"}
    code, out, _ = _run(capsys, "--select", REMOVED.code, "c.py")
    assert out.endswith("Found 1 finding.\n[*] 1 fixable with the `--fix` option.\n")
    code, out, _ = _run(capsys, "--select", "FL000", "c.py")
    assert (code, out) == (0, "All checks passed!\n")


def test_color_choice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, {"a.py": BROKEN})
    _, out, _ = _run(capsys, "--color", "always", "a.py")
    assert "\033[" in out
    _, out, _ = _run(capsys, "--color", "never", "a.py")
    assert "\033[" not in out
    monkeypatch.setenv("NO_COLOR", "1")
    _, out, _ = _run(capsys, "a.py")  # captured output is not a terminal either
    assert "\033[" not in out


def test_jobs_give_the_same_results_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, {f"m{i}.py": BROKEN if i % 2 else CLEAN for i in range(8)})
    _, serial, _ = _run(capsys, "--format", "json", "--jobs", "1", ".")
    _, parallel, _ = _run(capsys, "--format", "json", "--jobs", "2", ".")
    assert serial == parallel
    assert [o["path"] for o in json.loads(serial)] == ["m1.py", "m3.py", "m5.py", "m7.py"]


def test_list_rules_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--list-rules")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CODE", "NAME", "DEFAULT", "FIX", "SUMMARY"]
    assert len(lines) == 1 + len(all_rules())
    row = next(line for line in lines if line.startswith(REMOVED.code))
    assert row.split()[1:4] == [REMOVED.name, "on" if REMOVED.default_enabled else "off", "yes"]
    code, out, _ = _run(capsys, "--list-rules", "--format", "json")
    data = json.loads(out)
    assert {d["code"] for d in data} == set(all_rules())
    for selector in (REMOVED.code, REMOVED.code.lower(), REMOVED.name):
        code, out, _ = _run(capsys, "--explain", selector)
        assert code == 0
        assert out.startswith(f"# {REMOVED.code} {REMOVED.name}\n")
        assert "## What it does" in out and "- Fixable: yes" in out
    code, _, err = _run(capsys, "--explain", "no-such-rule")
    assert code == 2 and "no rule 'no-such-rule'" in err


def test_every_option_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    for action in build_parser()._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in doc, f"docs/cli.md does not document {option}"
    for key in config.KNOWN_KEYS:
        assert key in doc, f"docs/cli.md does not document the key {key}"


def test_server_without_pygls_is_one_line(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['pygls'] = None\n"
        "from fitlint.cli import main\n"
        "raise SystemExit(main(['server']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == "fitlint server needs the lsp extra: pip install 'fitdiag[lsp]'\n"


def test_console_script_end_to_end(tmp_path: Path) -> None:
    _write(tmp_path, {"a.py": BROKEN})
    exe = Path(sys.executable).with_name("fitlint")
    proc = subprocess.run(
        [str(exe), "--format", "concise", "a.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == (
        "a.py:2:10: FL000 syntax-error: syntax error: '(' was never closed"
    )
    assert (tmp_path / ".fitlint_cache").is_dir()  # the cache is on by default
