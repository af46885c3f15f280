"""Which rules a configuration turns on, built with their options.

A selector is ``ALL``, a code (``FL201``), a code prefix (``FL2``) or a rule's name
(``learning-rate-too-high``); ``select`` replaces the default set, ``extend-select`` adds to it
and ``ignore`` takes away, in that order, as in ruff.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fitlint.model import Config, ConfigError
from fitlint.rules.base import Rule, all_rules


def matches(selector: str, code: str, name: str) -> bool:
    """Whether a selector (``ALL``, a code, a code prefix such as ``FL2``, or a name)
    designates the rule ``code``/``name``."""
    selector = selector.strip()
    if selector == "ALL":
        return True
    if selector == name:
        return True
    return code.startswith(selector.upper()) if selector[:2].upper() == "FL" else False


def validate_selectors(selectors: Iterable[str]) -> None:
    """Raises ConfigError for a selector that matches no rule."""
    rules = all_rules()
    for sel in selectors:
        if not any(matches(sel, code, r.name) for code, r in rules.items()):
            raise ConfigError(f"unknown rule selector {sel!r} (see `fitlint --list-rules`)")


def enabled_rules(config: Config) -> list[type[Rule]]:
    """The rules that ``config`` turns on, in code order."""
    rules = all_rules()
    validate_selectors((*config.select, *config.extend_select, *config.ignore))
    out = []
    for code, rule in rules.items():
        if config.select:
            on = any(matches(s, code, rule.name) for s in config.select)
        else:
            on = rule.default_enabled
        if any(matches(s, code, rule.name) for s in config.extend_select):
            on = True
        if any(matches(s, code, rule.name) for s in config.ignore):
            on = False
        if on:
            out.append(rule)
    return out


def instantiate(config: Config) -> list[Rule]:
    """Builds the enabled rules with their configured thresholds."""
    rules: list[Rule] = []
    for cls in enabled_rules(config):
        opts = dict(config.options.get(cls.name, {}))
        opts.update(config.options.get(cls.code, {}))
        unknown = set(opts) - set(cls.options)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(sorted(unknown))} for rule {cls.name}"
                + (f" (known: {', '.join(sorted(cls.options))})" if cls.options else "")
            )
        for key, value in opts.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"option {key} of rule {cls.name} must be a number")
            if not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"option {key} of rule {cls.name} must be a finite number greater than 0, "
                    f"not {value!r}"
                )
        rules.append(cls(opts))
    return rules
