"""tb_fitdiag: record gradient health while Keras trains, diagnose it, show it in TensorBoard.

Importing this package is cheap: TensorFlow and Keras load only when ``FitDiagCallback`` or
``Recorder`` is first used, so the TensorBoard plugin and ``fitdiag diagnose`` never import them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tb_fitdiag.callback import FitDiagCallback
    from tb_fitdiag.recorder import Recorder

__all__ = ["FitDiagCallback", "Recorder", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "FitDiagCallback":
        from tb_fitdiag.callback import FitDiagCallback

        return FitDiagCallback
    if name == "Recorder":
        from tb_fitdiag.recorder import Recorder

        return Recorder
    raise AttributeError(f"module 'tb_fitdiag' has no attribute {name!r}")
