"""Rules of the api family."""

from __future__ import annotations
