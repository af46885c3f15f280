"""No input crashes the linter: generated programs, the standard library, odd files, and the
bad inputs of a campaign against the command line (each class of failure has its tests here):
nesting deep enough to crash libcst's native parser, CR-only line endings under ``--fix``,
invalid configuration and ignore patterns, corrupt cache entries, a file rewritten while
``--fix`` runs, files and directories that cannot be read or written, a directory outside the
working repository, a reader that stops early, and the summary's words."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlint import api, formats, nesting
from fitlint.cli import main
from fitlint.model import Config, ConfigError

ALL_RULES = Config(select=("ALL",))

# Keras-flavoured fragments mixed into generated programs, so the rules' code paths run too.
_KERAS_LINES = [
    "import tensorflow as tf",
    "from tensorflow import keras",
    "from keras import layers",
    "model = keras.Sequential([layers.LSTM(4), layers.LSTM(4), layers.Dense(1)])",
    "model.compile(optimizer=keras.optimizers.Adam(lr=0.5), loss='mse', epochs=3)",
    "model.fit(x, y, batch_size=10000, nb_epoch=2)",
    "for _ in range(N):\n    model.add(layers.Dense(3, activation='sigmoid'))",
    "(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()",
    "x = layers.Dense(4)(x)",
]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    program=hypothesmith.from_grammar(),
    prefix=st.lists(st.sampled_from(_KERAS_LINES), max_size=5),
)
def test_generated_programs_never_raise(program: str, prefix: list[str]) -> None:
    source = "\n".join(prefix) + "\n" + program
    result = api.lint_source(source, "generated.py", ALL_RULES, force=True)
    assert result.error is None, result.error
    for f in result.findings:
        assert f.line >= 1 and f.column >= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    result = api.lint_source("import keras\n" + text, "text.py", ALL_RULES, force=True)
    assert result.error is None, result.error


def _lint_stdlib_file(path: str) -> str | None:
    try:
        source = api.read_source(path)
    except api.SourceReadError:
        return None  # undecodable test fixtures are reported, not crashed on: fine here
    return api.lint_source(source, path, ALL_RULES, force=True).error


@pytest.mark.slow
def test_standard_library_lints_without_internal_errors() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(str(p) for p in stdlib.rglob("*.py") if "site-packages" not in p.parts)
    assert len(files) > 500
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        errors = [e for e in pool.map(_lint_stdlib_file, files, chunksize=16) if e]
    assert errors == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"import keras\n\x00\x01", "binary file", id="binary"),
        pytest.param(b"import keras\nx = '\xff\xfe'\n", "not valid utf-8", id="latin1-bytes"),
        pytest.param(
            b"# -*- coding: klingon -*-\nimport keras\n", "unknown encoding", id="bad-cookie"
        ),
    ],
)
def test_unreadable_files_get_one_clear_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(content)
    result = api.lint_file(path)
    assert result.findings == []
    assert result.error is not None
    assert expected in result.error
    assert "\n" not in result.error
    assert str(path) in result.error


def test_coding_cookie_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "latin.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\nimport keras\nname = '\xe9'\n")
    assert api.lint_file(path).error is None


def test_missing_path_is_reported(tmp_path: Path) -> None:
    result = api.lint_file(tmp_path / "nope.py")
    assert result.error == f"{tmp_path / 'nope.py'}: no such file or directory"


# -- the command line, run for real --------------------------------------------------------


def _cli(
    *argv: str, cwd: Path, stdin: bytes | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITLINT")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "fitlint.cli", "--no-cache", *argv],
        cwd=cwd,
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    for text in (proc.stdout, proc.stderr):
        assert "Traceback" not in text and "Exception ignored" not in text, text[-2000:]


# -- 1. nesting deep enough to crash libcst's native parser ---------------------------------

KERAS = "import keras\n"


def _nested(n: int, pair: str = "()") -> str:
    return KERAS + "x = " + pair[0] * n + "1" + pair[1] * n + "\n"


DEEP_SOURCES = {
    "parens-1500": _nested(1500),
    "brackets-1500": _nested(1500, "[]"),
    "parens-500": _nested(500),  # libcst parses these; CPython refuses them
    "braces-300": _nested(300, "{}"),
    "attribute-chain-20000": KERAS + "x = a" + ".b" * 20000 + "\n",
    "sum-8000": KERAS + "x = " + "+".join(["1"] * 8000) + "\n",
    "lambdas-3500": KERAS + "f = " + "lambda: " * 3500 + "1\n",
    "calls-8000": KERAS + "x = f" + "()" * 8000 + "\n",
    "chain-over-lines": KERAS + "x = (a\n" + "    .b\n" * 8000 + ")\n",
}


def _cpython_error(source: str) -> SyntaxError | None:
    try:
        compile(source, "deep.py", "exec", flags=0x400, dont_inherit=True)
    except SyntaxError as err:
        return err
    except (RecursionError, MemoryError):
        return None
    return None


@pytest.mark.parametrize("name", list(DEEP_SOURCES))
def test_deep_nesting_is_a_syntax_error_not_a_crash(tmp_path: Path, name: str) -> None:
    source = DEEP_SOURCES[name]
    (tmp_path / "deep.py").write_text(source, encoding="utf-8")
    proc = _cli("--format", "json", "deep.py", cwd=tmp_path)
    _no_traceback(proc)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    (finding,) = json.loads(proc.stdout)
    assert finding["code"] == "FL000"
    cpython = _cpython_error(source)
    if cpython is not None:  # CPython's own message, where CPython puts it
        assert finding["message"] == f"syntax error: {cpython.msg}"
        assert (finding["line"], finding["column"]) == (cpython.lineno, cpython.offset)
    else:
        assert finding["message"].startswith("syntax error: too deeply nested to parse")
        assert finding["line"] >= 2


def test_two_hundred_nested_brackets_are_python_and_201_are_not() -> None:
    assert api.lint_source(_nested(200), "ok.py", ALL_RULES).findings == []
    (finding,) = api.lint_source(_nested(201), "deep.py", ALL_RULES).findings
    assert (finding.code, finding.line, finding.column) == ("FL000", 2, 4 + 201)
    assert finding.message == "syntax error: too many nested parentheses"


def test_a_name_libcst_cannot_build_is_a_syntax_error_not_a_crash() -> None:
    # libcst parses U+13460 as a name, then refuses to build the node (CSTValidationError).
    result = api.lint_source("import keras\n\U00013460\n", "odd.py", ALL_RULES, force=True)
    assert result.error is None
    (finding,) = result.findings
    assert (finding.code, finding.line, finding.column) == ("FL000", 2, 1)
    assert finding.message == "syntax error: invalid non-printable character U+13460"


def test_deep_nesting_in_a_notebook_cell(tmp_path: Path) -> None:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# deep"},
            {"cell_type": "code", "metadata": {}, "outputs": [], "source": KERAS},
            {"cell_type": "code", "metadata": {}, "outputs": [], "source": _nested(1500)},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "deep.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    proc = _cli("--format", "json", "deep.ipynb", cwd=tmp_path)
    _no_traceback(proc)
    (finding,) = json.loads(proc.stdout)
    assert (finding["code"], finding["cell"], finding["line"]) == ("FL000", 3, 2)
    assert finding["message"] == "syntax error: too many nested parentheses"


def test_deep_files_in_worker_processes(tmp_path: Path) -> None:
    for name in ("parens-1500", "attribute-chain-20000", "sum-8000"):
        (tmp_path / f"{name}.py").write_text(DEEP_SOURCES[name], encoding="utf-8")
    for i in range(3):
        (tmp_path / f"clean{i}.py").write_text(KERAS + "x = 1\n", encoding="utf-8")
    proc = _cli("--jobs", "2", "--format", "json", ".", cwd=tmp_path)
    _no_traceback(proc)
    assert "BrokenProcessPool" not in proc.stderr
    assert proc.returncode == 1, proc.stderr[-2000:]
    found = {(f["path"], f["code"]) for f in json.loads(proc.stdout)}
    assert found == {
        ("attribute-chain-20000.py", "FL000"),
        ("parens-1500.py", "FL000"),
        ("sum-8000.py", "FL000"),
    }


@pytest.mark.skipif(not hasattr(os, "fork"), reason="workers inherit the patch by fork")
def test_a_worker_that_dies_costs_one_file_not_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should a native crash get past the checks, the pool it breaks is replaced, the file
    # that kills a worker again gets one error line, and the other files are still linted.
    import signal

    real = api._lint_file_with

    def crash_on_one_file(path: str, *args: object, **kwargs: object) -> api.FileResult:
        if path.endswith("crash.py"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "_lint_file_with", crash_on_one_file)
    names = ["a.py", "b.py", "crash.py", "d.py", "e.py", "f.py"]
    for name in names:
        (tmp_path / name).write_text(KERAS + "model.fit(x, y,\n", encoding="utf-8")
    results = list(api.lint_paths([str(tmp_path)], ALL_RULES, jobs=2))
    assert [Path(r.path).name for r in results] == names
    crashed = results[2]
    assert crashed.error == f"{crashed.path}: internal error: the process linting it crashed"
    others = [r for r in results if r is not crashed]
    assert all(r.error is None and [f.code for f in r.findings] == ["FL000"] for r in others)


def test_the_api_refuses_deep_nesting_before_parsing(tmp_path: Path) -> None:
    # What the editor server calls; in a child process, so that a crash fails this test alone.
    script = (
        "import sys\n"
        "from fitlint import api\n"
        "source = sys.stdin.read()\n"
        "result = api.lint_source(source, 'deep.py')\n"
        "print(result.error, [f.code for f in result.findings])\n"
    )
    for name in ("parens-1500", "attribute-chain-20000", "lambdas-3500"):
        proc = subprocess.run(
            [sys.executable, "-c", script],
            input=DEEP_SOURCES[name],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert (proc.returncode, proc.stdout) == (0, "None ['FL000']\n"), (name, proc.stderr)


def test_a_recursion_error_while_analysing_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from fitlint.analysis import index

    def too_deep(module: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(index, "build_index", too_deep)
    result = api.lint_source(KERAS + "x = 1\n", "deep.py", ALL_RULES)
    assert result.error == "deep.py: cannot analyse: nesting too deep"
    assert result.findings == []


def test_a_chain_the_parser_takes_is_linted_or_one_error_line(tmp_path: Path) -> None:
    # Under the limit of the nesting check, libcst parses it; today the analysis runs out of
    # recursion on it (an analysis that does not would lint it: both are fine, a traceback
    # is not).
    (tmp_path / "long.py").write_text(KERAS + "x = a" + ".b" * 3500 + "\n", encoding="utf-8")
    proc = _cli("long.py", cwd=tmp_path)
    _no_traceback(proc)
    assert (proc.returncode, proc.stdout, proc.stderr) in (
        (
            2,
            "No findings in the files checked; 1 error.\n",
            "fitlint: error: long.py: cannot analyse: nesting too deep\n",
        ),
        (0, "All checks passed!\n", ""),
    )


def test_ordinary_code_never_needs_the_exact_nesting_scan() -> None:
    # The quick bound must accept real code, or every file would pay for the exact scan.
    root = Path(api.__file__).resolve().parents[1]
    files = [*sorted((root / "fitlint").rglob("*.py")), *sorted((root / "examples").glob("*.py"))]
    assert len(files) > 30
    assert [str(f) for f in files if not nesting._quick_bound(f.read_text("utf-8"))] == []


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("x = '" + "(" * 300 + "'\n", id="brackets-in-a-string"),
        pytest.param('x = """\n' + "[" * 300 + '\n"""\n', id="brackets-in-a-docstring"),
        pytest.param("# " + "{" * 300 + "\n", id="brackets-in-a-comment"),
        pytest.param("x = [" + ", ".join(["-1.5"] * 20000) + "]\n", id="long-flat-list"),
        pytest.param("x = 1\n" * 20000, id="many-lines"),
        pytest.param("x = a" + ".b" * 1000 + "\n", id="attribute-chain-1000"),
    ],
)
def test_long_but_shallow_code_is_not_refused(source: str) -> None:
    assert nesting.check(KERAS + source) is None


# -- 2. CR-only line endings under --fix and --diff -----------------------------------------

CR_SOURCE = b"import keras\ropt = keras.optimizers.Adam(lr=0.001)\rmodel.fit(x, y, nb_epoch=3)\r"
CR_FIXED = CR_SOURCE.replace(b"lr=", b"learning_rate=").replace(b"nb_epoch=", b"epochs=")


@pytest.mark.parametrize("target", ["file", "folder"])
def test_fix_keeps_cr_line_endings(tmp_path: Path, target: str) -> None:
    path = tmp_path / "train.py"
    path.write_bytes(CR_SOURCE)
    proc = _cli("--fix", "train.py" if target == "file" else ".", cwd=tmp_path)
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert path.read_bytes() == CR_FIXED
    assert proc.stdout == "Found 2 findings (2 fixed, 0 remaining).\n"


def test_fix_on_stdin_keeps_cr_line_endings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fitlint.cli", "--no-cache", "--fix", "-"],
        input=CR_SOURCE,
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == CR_FIXED


@pytest.mark.parametrize("target", ["train.py", ".", "-"])
def test_diff_of_cr_line_endings(tmp_path: Path, target: str) -> None:
    (tmp_path / "train.py").write_bytes(CR_SOURCE)
    name = "-" if target == "-" else "train.py"
    proc = subprocess.run(
        [sys.executable, "-m", "fitlint.cli", "--no-cache", "--diff", target],
        input=CR_SOURCE if target == "-" else None,
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == (
        f"--- a/{name}\n+++ b/{name}\n@@ -1,3 +1,3 @@\n".encode()
        + b" import keras\r\n"
        + b"-opt = keras.optimizers.Adam(lr=0.001)\r\n"
        + b"-model.fit(x, y, nb_epoch=3)\r\n"
        + b"+opt = keras.optimizers.Adam(learning_rate=0.001)\r\n"
        + b"+model.fit(x, y, epochs=3)\r\n"
    )
    assert (tmp_path / "train.py").read_bytes() == CR_SOURCE


def test_apply_fixes_counts_lines_as_python_does() -> None:
    source = "import keras\ra = 1\r\nopt = keras.optimizers.Adam(lr=0.001)\n"
    fixed = api.fix_source(source, "mixed.py").fixed
    assert fixed == source.replace("lr=", "learning_rate=")


# -- 3. invalid configuration and ignore patterns --------------------------------------------


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        pytest.param(
            "select = " + "[" * 5000 + "]" * 5000,
            "invalid TOML: arrays or tables nested too deeply",
            id="deep-array",
        ),
        pytest.param(
            'exclude = ["\\\\"]',
            "[tool.fitlint] exclude: invalid pattern '\\\\': it ends in a backslash",
            id="exclude-backslash",
        ),
        pytest.param(
            'extend-exclude = ["ok/", "foo\\\\"]',
            "[tool.fitlint] extend-exclude: invalid pattern 'foo\\\\': it ends in a backslash",
            id="extend-exclude-backslash",
        ),
        pytest.param(
            '[tool.fitlint.per-file-ignores]\n"tests\\\\" = ["FL000"]',
            "[tool.fitlint.per-file-ignores]: invalid pattern 'tests\\\\'",
            id="per-file-ignores-backslash",
        ),
        *(
            pytest.param(
                f"[tool.fitlint.rules.learning-rate-too-high]\nadaptive_max = {value}",
                "[tool.fitlint.rules.learning-rate-too-high] adaptive_max must be a finite "
                f"number greater than 0, not {shown}",
                id=f"adaptive_max-{value}",
            )
            for value, shown in (("nan", "nan"), ("inf", "inf"), ("-1", "-1"), ("0", "0"))
        ),
        pytest.param(
            "[tool.fitlint.rules.FL301]\nmax_recurrent = -inf",
            "[tool.fitlint.rules.FL301] max_recurrent must be a finite number greater than 0",
            id="max_recurrent--inf",
        ),
    ],
)
def test_bad_configuration_is_one_error_line(tmp_path: Path, table: str, expected: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.fitlint]\n{table}\n", encoding="utf-8")
    (tmp_path / "train.py").write_text(KERAS, encoding="utf-8")
    proc = _cli(".", cwd=tmp_path)
    _no_traceback(proc)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"fitlint: error: {tmp_path / 'pyproject.toml'}: ")
    assert expected in line
    assert "All checks passed" not in proc.stdout


@pytest.mark.parametrize("option", ["--exclude", "--extend-exclude", "--per-file-ignores"])
def test_a_bad_pattern_on_the_command_line_is_one_error_line(tmp_path: Path, option: str) -> None:
    value = "\\:FL000" if option == "--per-file-ignores" else "\\"
    proc = _cli(option, value, ".", cwd=tmp_path)
    _no_traceback(proc)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"fitlint: error: {option}: invalid pattern '\\\\': "
        "it ends in a backslash, which escapes nothing\n"
    )


def test_bad_options_in_the_api_config_are_refused() -> None:
    bad = Config(options={"learning-rate-too-high": {"adaptive_max": float("nan")}})
    with pytest.raises(ConfigError, match="finite number greater than 0"):
        api.lint_source(KERAS, "x.py", bad)


def test_a_bad_gitignore_line_is_skipped_as_git_skips_it(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("foo\\\nignored/\n", encoding="utf-8")
    for name in ("foo\\", "foo", "ignored", "kept"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.py").write_text(KERAS + "x = (\n", encoding="utf-8")
    proc = _cli("--format", "concise", ".", cwd=tmp_path)
    _no_traceback(proc)
    assert proc.returncode == 1
    linted = sorted(line.split(":", 1)[0] for line in proc.stdout.splitlines()[:-1])
    assert linted == ["foo/train.py", "foo\\/train.py", "kept/train.py"]
    assert proc.stderr == (
        "fitlint: warning: .gitignore:1: pattern skipped, as git skips it: "
        "it ends in a backslash, which escapes nothing\n"
    )


# -- 4. corrupt cache entries ----------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        b'{"format":1,"findings":"abc"}',
        b'{"format":1,"findings":["abc"]}',
        b'{"format":1,"findings":[{"fix":"x"}]}',
        b'{"format":1,"findings":[{"code":"FL000","fix":{"message":"m","edits":"e"}}]}',
        b'{"format":1,"findings":{"a":1}}',
        b'{"format":1}',
        b"[1, 2]",
        b'{"format":1,"findings":' + b"[" * 100000 + b"]" * 100000 + b"}",
        b"\xff\xfe",
    ],
    ids=lambda e: e[:40].decode("latin-1"),
)
def test_a_corrupt_cache_entry_is_ignored_and_rewritten(tmp_path: Path, entry: bytes) -> None:
    (tmp_path / "train.py").write_text(KERAS + "model.fit(x, y,\n", encoding="utf-8")
    cache_dir = tmp_path / "cache"

    def run() -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "fitlint.cli", "--format", "json"]
        return subprocess.run(
            [*cmd, "--cache-dir", str(cache_dir), "train.py"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    cold = run()
    (stored,) = (p for p in cache_dir.rglob("*.json") if not p.name.startswith("."))
    stored.write_bytes(entry)
    warm = run()
    _no_traceback(warm)
    assert (warm.returncode, warm.stdout) == (cold.returncode, cold.stdout) == (1, cold.stdout)
    assert json.loads(stored.read_bytes())["findings"][0]["code"] == "FL000"


# -- 5. a file rewritten while --fix runs ----------------------------------------------------

FIXABLE = KERAS + "opt = keras.optimizers.Adam(lr=0.001)\n"


def test_fix_leaves_a_file_that_changed_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "train.py"
    path.write_text(FIXABLE, encoding="utf-8")
    newer = FIXABLE + "# saved by the editor meanwhile\n"
    real_fix_source = api.fix_source

    def fix_while_the_editor_saves(*args: object, **kwargs: object) -> api.FixResult:
        outcome = real_fix_source(*args, **kwargs)  # type: ignore[arg-type]
        path.write_text(newer, encoding="utf-8")
        return outcome

    monkeypatch.setattr(api, "fix_source", fix_while_the_editor_saves)
    code = main(["--no-cache", "--fix", str(path)])
    out, err = capsys.readouterr()
    assert path.read_text(encoding="utf-8") == newer
    assert code == 2
    assert err == (
        f"fitlint: error: {path}: not fixed: the file changed while it was being fixed; "
        "left as it is\n"
    )
    assert out == "No findings in the files checked; 1 error.\n"
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]  # no temporary file left


def test_write_atomic_compares_before_replacing(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"new")
    with pytest.raises(api.FileChangedError):
        api.write_atomic(str(path), b"fixed", expected=b"old")
    assert path.read_bytes() == b"new"
    api.write_atomic(str(path), b"fixed", expected=b"new")
    assert path.read_bytes() == b"fixed"


# -- 6. what could not be read or written is never "All checks passed!" ----------------------


def test_fix_in_a_read_only_folder_reports_the_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tempfile

    path = tmp_path / "train.py"
    path.write_text(FIXABLE, encoding="utf-8")

    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    code = main(["--no-cache", "--fix", "--format", "concise", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert path.read_text(encoding="utf-8") == FIXABLE
    assert out == (
        f"{path}:2:29: FL402 [*] removed-keras-argument: `lr` was removed from Keras "
        "optimizers (Keras 3 raises ValueError); use `learning_rate`\n"
        "Found 1 finding; 1 error.\n"
    )
    assert err == f"fitlint: error: {path}: cannot write: Permission denied\n"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes read-only folders"
)
def test_fix_in_a_really_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "train.py").write_text(FIXABLE, encoding="utf-8")
    folder.chmod(0o555)
    try:
        proc = _cli("--fix", "ro", cwd=tmp_path)
    finally:
        folder.chmod(0o755)
    _no_traceback(proc)
    assert proc.returncode == 2
    assert "No fixes to apply" not in proc.stdout and "Found 1 finding; 1 error." in proc.stdout
    assert "ro/train.py: cannot write: Permission denied" in proc.stderr


@pytest.mark.parametrize("fix", [[], ["--fix"], ["--diff"]])
def test_a_missing_file_is_never_all_checks_passed(tmp_path: Path, fix: list[str]) -> None:
    (tmp_path / "clean.py").write_text(KERAS + "x = 1\n", encoding="utf-8")
    proc = _cli(*fix, "clean.py", "missing.py", cwd=tmp_path)
    _no_traceback(proc)
    assert proc.returncode == 2
    assert "passed" not in proc.stdout
    assert "fitlint: error: missing.py: no such file or directory\n" in proc.stderr


@pytest.mark.parametrize("fix", [[], ["--fix"]])
def test_an_unreadable_folder_is_reported(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fix: list[str],
) -> None:
    (tmp_path / "src" / "locked").mkdir(parents=True)
    (tmp_path / "src" / "clean.py").write_text(KERAS + "x = 1\n", encoding="utf-8")
    (tmp_path / "src" / "locked" / "train.py").write_text(FIXABLE, encoding="utf-8")
    real_scandir = os.scandir

    def scandir(path: str = ".") -> object:
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(os, "scandir", scandir)
    code = main(["--no-cache", *fix, "src"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "passed" not in out and "No findings in the files checked; 1 error." in out
    locked = os.path.join("src", "locked")
    assert err == f"fitlint: error: {locked}: cannot read directory: Permission denied\n"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads unreadable folders"
)
def test_a_really_unreadable_folder_is_reported(tmp_path: Path) -> None:
    locked = tmp_path / "src" / "locked"
    locked.mkdir(parents=True)
    (locked / "train.py").write_text(FIXABLE, encoding="utf-8")
    locked.chmod(0)
    try:
        proc = _cli("src", cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 2
    assert "cannot read directory: Permission denied" in proc.stderr


# -- 7. a directory named on the command line is always walked ----------------------------


def test_a_folder_outside_the_working_repository_is_linted(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".gitignore").write_text("*.py\n", encoding="utf-8")
    outside = tmp_path / "elsewhere" / "project"
    outside.mkdir(parents=True)
    (outside / "train.py").write_text(FIXABLE, encoding="utf-8")
    proc = _cli("--format", "concise", str(outside), cwd=repo)
    _no_traceback(proc)
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"{outside / 'train.py'}:2:29: FL402")


@pytest.mark.parametrize("folder", ["build", ".hidden", "build/sub", "ignored"])
def test_an_excluded_or_ignored_folder_named_explicitly_is_linted(
    tmp_path: Path, folder: str
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("ignored/\n*.gen.py\n", encoding="utf-8")
    (tmp_path / folder / "__pycache__").mkdir(parents=True)
    (tmp_path / folder / "train.py").write_text(FIXABLE, encoding="utf-8")
    (tmp_path / folder / "model.gen.py").write_text(FIXABLE, encoding="utf-8")
    (tmp_path / folder / "__pycache__" / "x.py").write_text(FIXABLE, encoding="utf-8")
    proc = _cli("--format", "json", folder, cwd=tmp_path)
    _no_traceback(proc)
    assert proc.returncode == 1
    # The folder itself is walked; what is below it is still excluded and git-ignored.
    assert sorted({f["path"] for f in json.loads(proc.stdout)}) == [f"{folder}/train.py"]
    # Walked from above, it is skipped as before.
    proc = _cli(".", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "All checks passed!\n")


# -- 8. a reader that stops early ------------------------------------------------------------


def _into_closed_pipe(*argv: str, cwd: Path) -> tuple[int, str]:
    read, write = os.pipe()
    os.close(read)  # nobody will read: every write fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "fitlint.cli", "--no-cache", *argv],
            cwd=cwd,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        *(pytest.param(["--format", name, "."], 1, id=name) for name in formats.NAMES),
        pytest.param(["--statistics", "."], 1, id="statistics"),
        pytest.param(["--diff", "."], 1, id="diff"),
        pytest.param(["--list-rules"], 0, id="list-rules"),
        pytest.param(["--list-rules", "--format", "json"], 0, id="list-rules-json"),
        pytest.param(["--explain", "FL402"], 0, id="explain"),
        pytest.param(["--help"], 0, id="help"),
        pytest.param(["--version"], 0, id="version"),
    ],
)
def test_output_into_a_closed_pipe_ends_quietly(
    tmp_path: Path, argv: list[str], expected: int
) -> None:
    (tmp_path / "train.py").write_text(FIXABLE * 50, encoding="utf-8")
    code, err = _into_closed_pipe(*argv, cwd=tmp_path)
    assert (code, err) == (expected, "")


def test_a_reader_that_stops_after_one_line(tmp_path: Path) -> None:
    # `fitlint . | head -1`: enough findings to fill the pipe while the reader is gone.
    for i in range(20):
        (tmp_path / f"train{i}.py").write_text(FIXABLE * 200, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fitlint.cli", "--no-cache", "--jobs", "1", "."],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert first.startswith(b"train0.py:2:29: error: FL402")
    assert err == b""


# -- 9. the summary's words ------------------------------------------------------------------


def test_the_summary_counts_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text(FIXABLE, encoding="utf-8")
    two.write_text(FIXABLE + "model.fit(x, y, nb_epoch=3)\n", encoding="utf-8")
    assert main(["--no-cache", "--fix", "one.py"]) == 0
    assert capsys.readouterr().out == "Found 1 finding (1 fixed, 0 remaining).\n"
    assert main(["--no-cache", "--fix", "two.py"]) == 0
    assert capsys.readouterr().out == "Found 2 findings (2 fixed, 0 remaining).\n"


def test_the_full_format_shows_each_severity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text(
        KERAS + "opt = keras.optimizers.Adam(learning_rate=0.5, lr=0.1)\n", encoding="utf-8"
    )
    assert main(["--no-cache", "--color", "never", "train.py"]) == 1
    heads = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("train.py:")]
    assert [h.split(": ", 2)[1] for h in heads] == ["warning", "error"]
    assert heads[0].startswith("train.py:2:43: warning: FL201 learning-rate-too-high ")
    assert heads[1].startswith("train.py:2:48: error: FL402 removed-keras-argument ")
