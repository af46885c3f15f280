"""FL000: the file does not parse. The engine emits it; the class carries its docs and examples."""

from __future__ import annotations

from collections.abc import Iterator

from fitlint.model import Severity
from fitlint.rules.base import Invalid, Report, Rule, RuleContext


class SyntaxError_(Rule):
    """## What it does
    Reports a file that Python cannot parse, at the line and column of the error.

    ## Why is this bad?
    The script fails before training starts, and no other rule can look at it.

    ## Example
    ```python
    model.fit(x, y, epochs=10
    ```

    ## Use instead
    ```python
    model.fit(x, y, epochs=10)
    ```
    """

    code = "FL000"
    name = "syntax-error"
    message = "{detail}"
    severity = Severity.ERROR
    valid = [
        "import keras\nmodel = keras.Sequential()\n",
        "import keras\nprint(f'{keras.__version__!r:>10}')\n",
        "import keras\nmatch keras.backend.backend():\n    case 'jax':\n        pass\n",
    ]
    invalid = [
        Invalid("import keras\nmodel.fit(x, y, epochs=10\n", line=2),
        Invalid("import keras\ndef f(:\n    pass\n", line=2),
        Invalid("import keras\nx = 1\n  y = 2\n", line=3),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        return iter(())
