"""Where each Keras layer was constructed, for the story of a non-finite value.

From the moment this module is imported (``from tb_fitdiag import FitDiagCallback`` at the top
of a training script imports it, through :mod:`tb_fitdiag.callback`), a wrapper on
``keras.layers.Layer``'s ``__new__`` notes, on each new layer, the first frame outside Keras,
TensorFlow, this package and the installed libraries (a few microseconds per layer). Layers
built before that import have no construction site. Needs Keras only: TensorFlow is located,
never imported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import site
import sys
import sysconfig
from typing import Any

import keras

_SITE_ATTRIBUTE = "_fitdiag_site"


def _package_root(name: str) -> str | None:
    """The folder that holds the installed package ``name`` (without importing it)."""
    module = sys.modules.get(name)
    origin = getattr(module, "__file__", None)
    if origin is None:
        with contextlib.suppress(Exception):
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
    return os.path.dirname(os.path.dirname(os.path.abspath(origin))) if origin else None


def _library_roots() -> tuple[str, ...]:
    roots = {os.path.dirname(os.path.abspath(__file__))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            roots.add(os.path.abspath(sysconfig.get_paths()[key]))
    with contextlib.suppress(Exception):
        roots.update(os.path.abspath(p) for p in site.getsitepackages())
    with contextlib.suppress(Exception):
        roots.add(os.path.abspath(site.getusersitepackages()))
    for name in ("keras", "tensorflow", "numpy"):
        root = _package_root(name)
        if root:
            roots.add(root)
    return tuple(sorted(r + os.sep for r in roots if r and r != os.sep))


_LIBRARY_ROOTS = _library_roots()


def is_user_file(filename: str) -> bool:
    """Whether ``filename`` is the user's code (not a library's, not generated)."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.abspath(filename)
    return not path.startswith(_LIBRARY_ROOTS)


def site_of(filename: str, line: int) -> dict[str, Any]:
    """``{"path", "line"}``, the path relative to the working folder when it lies below it."""
    path = os.path.abspath(filename)
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(path)
        if not relative.startswith(".."):
            path = relative
    return {"path": path, "line": int(line)}


def _construction_site() -> dict[str, Any] | None:
    frame: Any = sys._getframe(2)
    for _ in range(64):
        if frame is None:
            return None
        if is_user_file(frame.f_code.co_filename):
            return site_of(frame.f_code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return None


def _install_site_hook() -> None:
    layer_class = keras.layers.Layer
    if getattr(layer_class, "_fitdiag_site_hook", False):
        return
    original = layer_class.__dict__.get("__new__")
    if original is None:
        return
    original_new = original.__func__ if isinstance(original, staticmethod) else original

    def __new__(cls: Any, *args: Any, **kwargs: Any) -> Any:
        obj = original_new(cls, *args, **kwargs)
        with contextlib.suppress(Exception):
            site_ = _construction_site()
            if site_ is not None:
                obj.__dict__[_SITE_ATTRIBUTE] = site_
        return obj

    layer_class.__new__ = staticmethod(__new__)
    layer_class._fitdiag_site_hook = True


with contextlib.suppress(Exception):
    _install_site_hook()


def construction_site(layer: Any) -> dict[str, Any] | None:
    """Where ``layer`` was constructed (``{"path", "line"}``), when it was noted."""
    site_ = vars(layer).get(_SITE_ATTRIBUTE)
    return dict(site_) if isinstance(site_, dict) else None
