"""TensorFlow, imported at its first use rather than at import time.

The callback's module tree serves every Keras backend; only the TensorFlow backend's probe and
the TensorFlow ops of :mod:`tb_fitdiag.gradient_stats` use TensorFlow. They refer to it as
``tf`` through :data:`tensorflow`, which imports the real module when one of its attributes is
first read, so that on the JAX and PyTorch backends TensorFlow need not be installed.
"""

from __future__ import annotations

import importlib
from typing import Any


class _Deferred:
    """A module imported when its first attribute is read; each attribute is then cached on
    the stand-in, so a later read costs what a module attribute does."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(object.__getattribute__(self, "_name")), attribute)
        object.__setattr__(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"<deferred module {object.__getattribute__(self, '_name')!r}>"


tensorflow: Any = _Deferred("tensorflow")
