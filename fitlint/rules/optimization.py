"""Rules of the optimization family."""

from __future__ import annotations
