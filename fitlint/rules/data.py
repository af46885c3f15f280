"""Rules of the data family."""

from __future__ import annotations
