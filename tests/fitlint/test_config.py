"""``[tool.fitlint]``: discovery, every key, validation errors, command line overrides."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from fitlint import config
from fitlint.config import Overrides, Resolver
from fitlint.model import ConfigError
from fitlint.rules.base import Rule, all_rules
from fitlint.selection import instantiate

RULES = all_rules()
DEFAULT_ON = sorted(code for code, r in RULES.items() if r.default_enabled)


def _rule_with_options() -> type[Rule]:
    for rule in RULES.values():
        if rule.options:
            return rule
    raise AssertionError("the catalog has no rule with options")


def _project(tmp_path: Path, table: str, name: str = "pyproject.toml") -> Path:
    (tmp_path / name).write_text(textwrap.dedent(table), encoding="utf-8")
    config.clear_cache()
    return tmp_path


def _enabled(cfg: config.Config) -> list[str]:
    return sorted(r.code for r in instantiate(cfg))


def test_defaults_without_configuration(tmp_path: Path) -> None:
    config.clear_cache()
    cfg = config.config_for_path(tmp_path / "train.py")
    assert _enabled(cfg) == DEFAULT_ON


def test_nearest_pyproject_with_table_wins(tmp_path: Path) -> None:
    _project(tmp_path, '[tool.fitlint]\nignore = ["FL000"]\n')
    sub = tmp_path / "pkg" / "deep"
    sub.mkdir(parents=True)
    # A pyproject.toml without [tool.fitlint] is passed over, like ruff does.
    (tmp_path / "pkg" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    config.clear_cache()
    assert "FL000" not in _enabled(config.config_for_path(sub / "train.py"))
    # A nearer table replaces the outer one entirely (no merging).
    (tmp_path / "pkg" / "pyproject.toml").write_text('[tool.fitlint]\nselect = ["FL000"]\n')
    config.clear_cache()
    assert _enabled(config.config_for_path(sub / "train.py")) == ["FL000"]
    assert "FL000" not in _enabled(config.config_for_path(tmp_path / "top.py"))


def test_config_file_changes_are_seen(tmp_path: Path) -> None:
    pyproject = _project(tmp_path, '[tool.fitlint]\nignore = ["FL000"]\n') / "pyproject.toml"
    assert "FL000" not in _enabled(config.config_for_path(tmp_path / "a.py"))
    pyproject.write_text('[tool.fitlint]\nselect = ["FL000"]\n# longer now\n')
    os.utime(pyproject, ns=(1, 1))  # a different stamp even on coarse clocks
    assert _enabled(config.config_for_path(tmp_path / "a.py")) == ["FL000"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param("[tool.fitlint]\nselct = ['FL000']\n", "unknown key 'selct'", id="unknown"),
        pytest.param("[tool.fitlint]\nselect = 'FL000\n", "invalid TOML", id="bad-toml"),
        pytest.param(
            "[tool.fitlint]\nselect = 3\n", "select must be a list of strings", id="select-type"
        ),
        pytest.param(
            "[tool.fitlint]\nignore = ['FL999']\n",
            "unknown rule selector 'FL999'",
            id="unknown-selector",
        ),
        pytest.param(
            "[tool.fitlint]\nextend-select = ['no-such-rule']\n",
            "unknown rule selector 'no-such-rule'",
            id="unknown-name",
        ),
        pytest.param(
            "[tool.fitlint.rules.no-such-rule]\nx = 1\n",
            "unknown rule 'no-such-rule'",
            id="rules-unknown-rule",
        ),
        pytest.param(
            "[tool.fitlint.rules.FL000]\nx = 1\n", "unknown option 'x'", id="rules-unknown-option"
        ),
        pytest.param(
            "[tool.fitlint]\nper-file-ignores = ['a']\n",
            "per-file-ignores must be a table",
            id="pfi-type",
        ),
        pytest.param(
            "[tool.fitlint.per-file-ignores]\n'tests/*' = ['FL999']\n",
            "unknown rule selector 'FL999'",
            id="pfi-unknown-rule",
        ),
        pytest.param(
            "[tool.fitlint]\ncache-dir = 1\n", "cache-dir must be a string", id="cache-dir-type"
        ),
        pytest.param(
            "[tool.fitlint]\nrespect-gitignore = 'yes'\n",
            "respect-gitignore must be true or false",
            id="bool-type",
        ),
        pytest.param("[tool]\nfitlint = 3\n", "tool.fitlint must be a table", id="not-a-table"),
    ],
)
def test_invalid_configuration_names_file_and_key(tmp_path: Path, table: str, message: str) -> None:
    _project(tmp_path, table)
    with pytest.raises(ConfigError) as err:
        config.config_for_path(tmp_path / "train.py")
    text = str(err.value)
    assert text.startswith(str(tmp_path / "pyproject.toml") + ": ")
    assert message in text
    assert "\n" not in text


def test_invalid_toml_reports_the_line(tmp_path: Path) -> None:
    _project(tmp_path, '[project]\nname = "x"\n\n[tool.fitlint]\nselect = [FL000]\n')
    with pytest.raises(ConfigError, match=r"invalid TOML: .*\(line 5\)$"):
        config.config_for_path(tmp_path / "train.py")


def test_broken_pyproject_not_about_fitlint_is_ignored(tmp_path: Path) -> None:
    _project(tmp_path, '[project\nname = "x"\n')
    assert _enabled(config.config_for_path(tmp_path / "a.py")) == DEFAULT_ON


def test_rule_thresholds_by_name_and_code(tmp_path: Path) -> None:
    rule = _rule_with_options()
    option = next(iter(rule.options))
    for key in (rule.name, rule.code):
        _project(
            tmp_path,
            f'[tool.fitlint]\nselect = ["{rule.code}"]\n'
            f"[tool.fitlint.rules.{key}]\n{option} = 12345\n",
        )
        cfg = config.config_for_path(tmp_path / "a.py")
        assert cfg.options == {rule.name: {option: 12345}}
        (active,) = instantiate(cfg)
        assert active.opts[option] == 12345


def test_rule_threshold_must_be_a_number(tmp_path: Path) -> None:
    rule = _rule_with_options()
    option = next(iter(rule.options))
    _project(tmp_path, f'[tool.fitlint.rules.{rule.name}]\n{option} = "high"\n')
    with pytest.raises(ConfigError, match="must be a number"):
        config.config_for_path(tmp_path / "a.py")


@pytest.mark.parametrize(
    ("table", "overrides", "expected"),
    [
        pytest.param("", Overrides(), DEFAULT_ON, id="defaults"),
        pytest.param("select = ['ALL']", Overrides(), sorted(RULES), id="select-all"),
        pytest.param(
            "select = ['ALL']\nignore = ['FL000']",
            Overrides(),
            sorted(set(RULES) - {"FL000"}),
            id="select-then-ignore",
        ),
        pytest.param(
            "ignore = ['syntax-error']",
            Overrides(),
            sorted(set(DEFAULT_ON) - {"FL000"}),
            id="ignore-by-name",
        ),
        pytest.param(
            "ignore = ['FL0']",
            Overrides(extend_select=("FL000",)),
            sorted(set(DEFAULT_ON) | {"FL000"}),
            id="cli-extend-select-re-enables",
        ),
        pytest.param(
            "ignore = ['FL000']",
            Overrides(select=("FL000",)),
            ["FL000"],
            id="cli-select-replaces-the-file",
        ),
        pytest.param("select = ['FL000']", Overrides(ignore=("FL000",)), [], id="cli-ignore-wins"),
        pytest.param(
            "select = ['FL000']",
            Overrides(per_file_ignores=(("*.py", ("FL000",)),)),
            [],
            id="cli-per-file-ignores",
        ),
    ],
)
def test_selection_layers(
    tmp_path: Path, table: str, overrides: Overrides, expected: list[str]
) -> None:
    _project(tmp_path, "[tool.fitlint]\n" + table + "\n")
    cfg = Resolver(overrides).config_for(str(tmp_path / "a.py"))
    assert _enabled(cfg) == expected


@pytest.mark.parametrize(
    ("pattern", "path", "ignored"),
    [
        pytest.param("tests/*.py", "tests/test_a.py", True, id="dir-glob"),
        pytest.param("tests/*.py", "src/tests/test_a.py", False, id="anchored-with-slash"),
        pytest.param("*_test.py", "src/deep/model_test.py", True, id="basename-anywhere"),
        pytest.param("notebooks/**", "notebooks/a/b.ipynb", True, id="double-star"),
        pytest.param("notebooks/**", "src/a.py", False, id="no-match"),
    ],
)
def test_per_file_ignores_relative_to_the_pyproject(
    tmp_path: Path, pattern: str, path: str, ignored: bool
) -> None:
    _project(tmp_path, f"[tool.fitlint.per-file-ignores]\n'{pattern}' = ['FL000']\n")
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    cfg = config.config_for_path(target)
    assert ("FL000" not in _enabled(cfg)) is ignored


def test_exclude_and_extend_exclude(tmp_path: Path) -> None:
    _project(tmp_path, "[tool.fitlint]\nextend-exclude = ['generated/', 'legacy_*.py']\n")
    settings = Resolver().settings_for(str(tmp_path / "a.py"))
    assert settings.is_excluded(str(tmp_path / "generated"), is_dir=True)
    assert settings.is_excluded(str(tmp_path / "src" / "legacy_model.py"))
    assert settings.is_excluded(str(tmp_path / ".venv"), is_dir=True)  # defaults kept
    assert not settings.is_excluded(str(tmp_path / "train.py"))
    _project(tmp_path, "[tool.fitlint]\nexclude = ['only_this.py']\n")
    settings = Resolver().settings_for(str(tmp_path / "a.py"))
    assert settings.is_excluded(str(tmp_path / "only_this.py"))
    assert not settings.is_excluded(str(tmp_path / "build"), is_dir=True)  # defaults replaced


def test_other_keys(tmp_path: Path) -> None:
    _project(
        tmp_path,
        "[tool.fitlint]\ncache-dir = 'var/cache'\nrespect-gitignore = false\n"
        "force-exclude = true\n",
    )
    settings = Resolver().settings_for(str(tmp_path / "a.py"))
    assert settings.cache_dir == str(tmp_path / "var" / "cache")
    assert settings.respect_gitignore is False
    assert settings.force_exclude is True
    overridden = Resolver(Overrides(force_exclude=False, cache_dir=str(tmp_path / "c")))
    s2 = overridden.settings_for(str(tmp_path / "a.py"))
    assert s2.force_exclude is False
    assert s2.cache_dir == str(tmp_path / "c")


def test_explicit_config_file_and_isolated(tmp_path: Path) -> None:
    _project(tmp_path, "[tool.fitlint]\nselect = ['FL000']\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "custom.toml").write_text("[tool.fitlint]\nignore = ['FL000']\n")
    via_file = Resolver(config_file=str(other / "custom.toml"))
    assert "FL000" not in _enabled(via_file.config_for(str(tmp_path / "a.py")))
    isolated = Resolver(isolated=True)
    assert _enabled(isolated.config_for(str(tmp_path / "a.py"))) == DEFAULT_ON
    with pytest.raises(ConfigError, match="no such configuration file"):
        Resolver(config_file=str(tmp_path / "missing.toml"))


def test_fingerprint_changes_with_options() -> None:
    a = config.Config(select=("FL000",))
    b = config.Config(select=("FL000",), options={"x": {"y": 1}})
    assert config.fingerprint(a) != config.fingerprint(b)
    assert config.fingerprint(a) == config.fingerprint(config.Config(select=("FL000",)))
