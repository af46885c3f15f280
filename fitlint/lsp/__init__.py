"""``fitlint server``: the fitlint language server, over stdio.

A thin face over :mod:`fitlint.api`, built on pygls 2.x (the ``lsp`` extra). It publishes
diagnostics on open, on change and on save, offers code actions (the rule's fix, ``# noqa``
suppression, and a ``source.fixAll.fitlint`` action), shows the rule's documentation on
hover, and lints Jupyter notebooks through the protocol's notebook synchronization.

- :mod:`~fitlint.lsp.server`: the command line, logging, and the server built with every
  handler (``python -m fitlint.lsp`` runs :func:`main`).
- :mod:`~fitlint.lsp.protocol`: the JSON-RPC checks of every incoming message.
- :mod:`~fitlint.lsp.service`: the session's documents, when to lint, what to publish; the
  handlers of hover and code actions.
- :mod:`~fitlint.lsp.worker`: the worker processes that lint, off the server's loop.
- :mod:`~fitlint.lsp.positions` and :mod:`~fitlint.lsp.actions`: pure conversions between
  findings and the protocol's positions, diagnostics, hovers and edits.

pygls is imported only by the functions that need it, so ``fitlint`` itself starts without it
and a missing extra gives a one-line message.
"""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the language server (:func:`fitlint.lsp.server.main`); returns the exit code.

    The package imports its modules only here, so that ``python -m fitlint.lsp.worker`` starts
    a worker without the server's modules.
    """
    from fitlint.lsp.server import main as run

    return run(argv)
