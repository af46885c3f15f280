"""FL402's table of removed Keras arguments, checked against the installed Keras 3.

Every callable of ``REMOVED_ARGUMENTS`` must exist in Keras 3, must not take the old keyword
(else FL402 would flag valid code), and must take the new one where the fix renames to it, at
the position the table gives. Model methods are checked on ``keras.Model``; the optimizers on
every class under ``keras.optimizers``
that FL402 counts as an optimizer.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from fitlint.analysis.optimizers import optimizer_name
from fitlint.rules.api import _OPTIMIZER_ALIASES, OPTIMIZERS, REMOVED_ARGUMENTS, RemovedArgument

keras = pytest.importorskip("keras")


def _resolve(callable_: str) -> list[Any]:
    if callable_ == OPTIMIZERS:
        return [
            cls
            for name, cls in vars(keras.optimizers).items()
            if inspect.isclass(cls)
            and issubclass(cls, keras.optimizers.Optimizer)
            and name != "Optimizer"
            and optimizer_name(f"keras.optimizers.{name}") is not None
        ]
    if callable_.startswith("."):
        return [getattr(keras.Model, callable_[1:], None)]
    obj: Any = keras
    for part in callable_.split(".")[1:]:
        obj = getattr(obj, part)
    return [obj]


def _parameters(obj: Any) -> list[inspect.Parameter]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    return [p for p in inspect.signature(target).parameters.values() if p.name != "self"]


CASES = [
    pytest.param(entry, callable_, id=f"{callable_}-{entry.argument}")
    for entry in REMOVED_ARGUMENTS
    for callable_ in entry.callables
]


@pytest.mark.parametrize(("entry", "callable_"), CASES)
def test_keras3_does_not_take_the_removed_argument(entry: RemovedArgument, callable_: str) -> None:
    for obj in _resolve(callable_):
        if obj is None:
            # fit_generator and friends: Keras 3 has no such method at all.
            assert callable_ in (".fit_generator", ".evaluate_generator")
            continue
        names = [p.name for p in _parameters(obj)]
        assert entry.argument not in names, (obj, entry.argument)
        if entry.renamed_to is not None:
            assert entry.renamed_to in names or "args" in names, (obj, entry.renamed_to)
            positional = [
                p.name
                for p in _parameters(obj)
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            if entry.slot is not None and entry.renamed_to in positional:
                assert positional.index(entry.renamed_to) == entry.slot, (obj, positional)


def test_keras3_has_no_lower_case_optimizer_aliases() -> None:
    for alias, cls in _OPTIMIZER_ALIASES.items():
        assert not hasattr(keras.optimizers, alias), alias
        assert hasattr(keras.optimizers, cls), cls
