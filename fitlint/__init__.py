"""fitlint: a linter for the patterns behind failed Keras training runs."""

__version__ = "0.1.0"
