"""Rules of the architecture family."""

from __future__ import annotations
