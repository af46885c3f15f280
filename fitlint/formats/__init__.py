"""Output formats: the only code that turns findings into text. One module per format."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from fitlint.api import FileResult
    from fitlint.model import Finding

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


def location(f: Finding) -> str:
    """``path:line:col``, or ``path:cell N:line:col`` in a notebook."""
    cell = f"cell {f.cell}:" if f.cell is not None else ""
    return f"{f.path}:{cell}{f.line}:{f.column}"


NAMES = ("full", "concise", "json", "sarif", "github")
TEXT_NAMES = ("full", "concise")
"""The formats meant for people: they get a summary line and ``--statistics`` as text."""
