"""The rule catalog. Importing this package registers every rule, one module per family."""

from fitlint.rules import api, architecture, data, optimization, syntax

__all__ = ["api", "architecture", "data", "optimization", "syntax"]
