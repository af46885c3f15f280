"""``python -m fitlint.lsp``: the language server, as ``fitlint server`` runs it."""

from fitlint.lsp.server import main

raise SystemExit(main())
