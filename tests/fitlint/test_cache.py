"""The result cache: keyed by content, path, configuration and fitlint; atomic; corrupt
entries ignored; results with internal errors never stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitlint import api, cache
from fitlint.cli import main
from fitlint.rules.base import Report, Rule, RuleContext

SOURCE = "import keras\nmodel.fit(x, y, epochs=10\n"


def _entries(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.json") if not p.name.startswith(".tmp"))


def _lint(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]]]:
    code = main(["--format", "json", *argv])
    return code, json.loads(capsys.readouterr().out)


def test_warm_run_reads_the_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "train.py"
    src.write_text(SOURCE)
    cache_dir = tmp_path / "cache"
    code, cold = _lint(capsys, "--cache-dir", str(cache_dir), str(src))
    assert code == 1 and [f["code"] for f in cold] == ["FL000"]
    (entry,) = _entries(cache_dir)
    assert (cache_dir / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (cache_dir / "CACHEDIR.TAG").exists()
    # Prove the warm run reads the entry: doctor it and see the doctored message come back.
    data = json.loads(entry.read_text())
    data["findings"][0]["message"] = "from the cache"
    entry.write_text(json.dumps(data))
    code, warm = _lint(capsys, "--cache-dir", str(cache_dir), str(src))
    assert code == 1 and warm[0]["message"] == "from the cache"
    # --no-cache neither reads it...
    code, fresh = _lint(capsys, "--no-cache", "--cache-dir", str(cache_dir), str(src))
    assert fresh == cold


def test_content_and_configuration_change_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "train.py"
    src.write_text(SOURCE)
    cache_dir = tmp_path / "cache"
    _lint(capsys, "--cache-dir", str(cache_dir), str(src))
    code, out = _lint(capsys, "--cache-dir", str(cache_dir), "--ignore", "FL000", str(src))
    assert (code, out) == (0, [])
    assert len(_entries(cache_dir)) == 2
    src.write_text(SOURCE.replace("x, y", "x"))
    code, out = _lint(capsys, "--cache-dir", str(cache_dir), str(src))
    assert code == 1 and out[0]["column"] == 10
    assert len(_entries(cache_dir)) == 3


def test_no_cache_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "train.py"
    src.write_text(SOURCE)
    _lint(capsys, "--no-cache", "--cache-dir", str(tmp_path / "cache"), str(src))
    assert not (tmp_path / "cache").exists()


def test_default_cache_dir_is_next_to_the_pyproject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.fitlint]\n")
    (project / "src" / "train.py").write_text(SOURCE)
    monkeypatch.chdir(tmp_path)
    from fitlint import config

    config.clear_cache()
    _lint(capsys, str(project / "src"))
    assert _entries(project / ".fitlint_cache")
    (project / "pyproject.toml").write_text("[tool.fitlint]\ncache-dir = 'var/c'\n")
    config.clear_cache()
    _lint(capsys, str(project / "src"))
    assert _entries(project / "var" / "c")


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b'{"format": 1, "findings": [{"code": 3}]}', id="wrong-shape"),
        pytest.param(b'{"format": 999, "findings": []}', id="other-format"),
    ],
)
def test_corrupt_entry_is_a_miss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], garbage: bytes
) -> None:
    src = tmp_path / "train.py"
    src.write_text(SOURCE)
    cache_dir = tmp_path / "cache"
    _, cold = _lint(capsys, "--cache-dir", str(cache_dir), str(src))
    (entry,) = _entries(cache_dir)
    entry.write_bytes(garbage)
    code, warm = _lint(capsys, "--cache-dir", str(cache_dir), str(src))
    assert code == 1 and warm == cold
    assert json.loads(entry.read_text())["findings"]  # rewritten with the real result


class _Raises(Rule):
    """Test-only rule (not registered): always raises."""

    name = "test-raises"
    message = "never"

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        raise RuntimeError("boom")


_Raises.code = "FL992"


def test_results_with_internal_errors_are_not_cached(tmp_path: Path) -> None:
    src = tmp_path / "train.py"
    src.write_text("import keras\n")
    cache_dir = tmp_path / "cache"
    result = api._lint_file_with(str(src), [_Raises()], str(cache_dir), "fp")
    assert result.error is not None and "boom" in result.error
    assert _entries(cache_dir) == []


def test_key_depends_on_every_part() -> None:
    base = cache.entry_key(b"x", "a.py", "cfg")
    assert base == cache.entry_key(b"x", "a.py", "cfg")
    assert base != cache.entry_key(b"y", "a.py", "cfg")
    assert base != cache.entry_key(b"x", "b.py", "cfg")
    assert base != cache.entry_key(b"x", "a.py", "cfg2")


def test_findings_round_trip_through_json() -> None:
    from fitlint.model import Edit, Finding, Fix, Severity

    finding = Finding(
        "FL402",
        "removed-keras-argument",
        Severity.ERROR,
        "n.ipynb",
        2,
        3,
        2,
        5,
        "m",
        Fix("rename", (Edit(2, 3, 2, 5, "learning_rate"),)),
        cell=4,
    )
    assert cache.finding_from_json(json.loads(json.dumps(finding.to_json()))) == finding
