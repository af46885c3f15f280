"""Output formats: the only code that turns findings into text. One module per format."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from fitlint.api import FileResult

Renderer = Callable[[Sequence["FileResult"], TextIO, bool], None]
"""A format: ``render(results, stream, color)`` writes every finding of ``results``."""


def get(name: str) -> Renderer:
    """Returns the renderer of a format by name."""
    import importlib

    if name not in NAMES:
        raise ValueError(f"unknown format {name!r}")
    module = importlib.import_module(f"fitlint.formats.{name}_format")
    render: Renderer = module.render
    return render


NAMES = ("full", "json")
