"""No input crashes the linter: generated programs, the standard library, odd files."""

from __future__ import annotations

import concurrent.futures
import sysconfig
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlint import api
from fitlint.model import Config

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


def test_deeply_nested_source_does_not_crash() -> None:
    source = "import keras\nx = " + "(" * 200 + "1" + ")" * 200 + "\n"
    result = api.lint_source(source, "deep.py", ALL_RULES, force=True)
    assert result.error is None or "nesting" in result.error or "parse" in result.error
