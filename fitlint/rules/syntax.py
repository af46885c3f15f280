"""FL000: the file does not compile. The engine reports what the parser rejects; the rule's own
check reports what libcst's parser accepts but CPython's compiler rejects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import libcst as cst

from fitlint.model import Severity
from fitlint.rules.base import Invalid, Report, Rule, RuleContext


class SyntaxError_(Rule):
    """## What it does
    Reports a file that Python cannot compile, at the line and column of the error, in
    CPython's words.

    Besides what the parser rejects, it reports the errors that CPython's compiler finds after
    parsing and that libcst's parser lets through: a keyword argument repeated in a call
    (`fit(x, y, epochs=5, epochs=10)`), a parameter repeated in a definition, `return`
    outside a function, `break` or `continue` outside a loop, `nonlocal` at module level, and
    a `from __future__` import after other statements. (A positional argument after a
    keyword argument, `fit(x, y, epochs=10, ...)`, and more than 200 nested brackets are
    parse errors, reported as such.) These checks walk the statements and the calls that the
    analysis has already listed; compiling every file with CPython would cost about a tenth
    of the parse.

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
    message = "syntax error: {detail}"
    severity = Severity.ERROR
    valid = [
        "import keras\nmodel = keras.Sequential()\n",
        "import keras\nprint(f'{keras.__version__!r:>10}')\n",
        "import keras\nmatch keras.backend.backend():\n    case 'jax':\n        pass\n",
        # Keywords passed twice through ** are a runtime error, not a compile-time one.
        "import keras\nmodel.fit(x, y, epochs=5, **{'epochs': 3})\n",
        # break in a loop's else clause belongs to the enclosing loop.
        """import keras
for epochs in (5, 10):
    for attempt in range(3):
        if attempt:
            continue
    else:
        break
""",
        """\"\"\"Docstring.\"\"\"
from __future__ import annotations
from __future__ import division
import keras
""",
    ]
    invalid = [
        Invalid("import keras\nmodel.fit(x, y, epochs=10\n", line=2),
        Invalid("import keras\ndef f(:\n    pass\n", line=2),
        Invalid("import keras\nx = 1\n  y = 2\n", line=3),
        Invalid("import keras\nmodel.fit(X, y, epochs=10, ...)\n", line=2),
        Invalid(
            "import keras\nmodel.fit(\n    x,\n    y,\n    epochs=5,\n    batch_size=32,\n"
            "    epochs=10,\n)\n",
            line=7,
        ),
        Invalid("import keras\ndef train(model, x, x):\n    model.fit(x, x)\n", line=2),
        Invalid(
            "import keras\nhistory = model.fit(x, y, epochs=5)\nif history:\n    return history\n",
            line=4,
        ),
        Invalid(
            "import keras\nfor epoch in range(10):\n    model.fit(x, y)\nif done:\n    break\n",
            line=5,
        ),
        Invalid("import keras\nfrom __future__ import print_function\n", line=2),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        for site in ctx.index.calls:
            seen: set[str] = set()
            for arg in site.node.args:
                if arg.keyword is None:
                    continue
                name = arg.keyword.value
                if name in seen:
                    yield self.report(arg, detail=f"keyword argument repeated: {name}")
                    break
                seen.add(name)
        body = ctx.module.body
        yield from self._future_imports(body)
        yield from self._statements(body, in_function=False, in_loop=False, module=True)

    def _future_imports(self, body: Sequence[cst.BaseStatement]) -> Iterator[Report]:
        """``from __future__`` after anything but the docstring and other such imports."""
        for i, stmt in enumerate(body):
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if not (isinstance(small, cst.ImportFrom) and _is_future(small)):
                    continue
                before = body[:i]
                if any(not _future_or_docstring(s, k == 0) for k, s in enumerate(before)):
                    yield self.report(
                        small,
                        detail="from __future__ imports must occur at the beginning of the file",
                    )
                    return

    def _statements(
        self,
        body: Sequence[cst.BaseStatement] | Sequence[cst.BaseSmallStatement],
        *,
        in_function: bool,
        in_loop: bool,
        module: bool = False,
    ) -> Iterator[Report]:
        """Statements only (never expressions): ``return``, ``break``, ``continue``,
        ``nonlocal`` where the compiler refuses them, and repeated parameters."""
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    detail = _misplaced(small, in_function, in_loop, module)
                    if detail is not None:
                        yield self.report(small, detail=detail)
            elif isinstance(stmt, cst.FunctionDef):
                repeated = _repeated_parameter(stmt.params)
                if repeated is not None:
                    yield self.report(
                        repeated,
                        detail=f"duplicate argument {repeated.name.value!r} in function definition",
                    )
                yield from self._block(stmt.body, in_function=True, in_loop=False)
            elif isinstance(stmt, cst.ClassDef):
                yield from self._block(stmt.body, in_function=False, in_loop=False)
            elif isinstance(stmt, (cst.For, cst.While)):
                yield from self._block(stmt.body, in_function=in_function, in_loop=True)
                if stmt.orelse is not None:
                    yield from self._block(
                        stmt.orelse.body, in_function=in_function, in_loop=in_loop
                    )
            elif isinstance(stmt, cst.If):
                yield from self._block(stmt.body, in_function=in_function, in_loop=in_loop)
                if stmt.orelse is not None:
                    orelse = stmt.orelse
                    if isinstance(orelse, cst.If):
                        yield from self._statements(
                            [orelse], in_function=in_function, in_loop=in_loop
                        )
                    else:
                        yield from self._block(
                            orelse.body, in_function=in_function, in_loop=in_loop
                        )
            elif isinstance(stmt, (cst.Try, cst.TryStar)):
                blocks: list[cst.BaseSuite] = [stmt.body]
                blocks += [h.body for h in stmt.handlers]
                if stmt.orelse is not None:
                    blocks.append(stmt.orelse.body)
                if stmt.finalbody is not None:
                    blocks.append(stmt.finalbody.body)
                for block in blocks:
                    yield from self._block(block, in_function=in_function, in_loop=in_loop)
            elif isinstance(stmt, cst.With):
                yield from self._block(stmt.body, in_function=in_function, in_loop=in_loop)
            elif isinstance(stmt, cst.Match):
                for case in stmt.cases:
                    yield from self._block(case.body, in_function=in_function, in_loop=in_loop)

    def _block(self, suite: cst.BaseSuite, *, in_function: bool, in_loop: bool) -> Iterator[Report]:
        if isinstance(suite, cst.IndentedBlock):
            yield from self._statements(suite.body, in_function=in_function, in_loop=in_loop)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                detail = _misplaced(small, in_function, in_loop, False)
                if detail is not None:
                    yield self.report(small, detail=detail)


def _misplaced(
    small: cst.BaseSmallStatement, in_function: bool, in_loop: bool, module: bool
) -> str | None:
    """CPython's message for a small statement it refuses where it stands, else None."""
    if isinstance(small, cst.Return) and not in_function:
        return "'return' outside function"
    if isinstance(small, cst.Break) and not in_loop:
        return "'break' outside loop"
    if isinstance(small, cst.Continue) and not in_loop:
        return "'continue' not properly in loop"
    if isinstance(small, cst.Nonlocal) and module:
        return "nonlocal declaration not allowed at module level"
    return None


def _repeated_parameter(params: cst.Parameters) -> cst.Param | None:
    seen: set[str] = set()
    every = [*params.posonly_params, *params.params]
    if isinstance(params.star_arg, cst.Param):
        every.append(params.star_arg)
    every += params.kwonly_params
    if params.star_kwarg is not None:
        every.append(params.star_kwarg)
    for p in every:
        if p.name.value in seen:
            return p
        seen.add(p.name.value)
    return None


def _is_future(node: cst.ImportFrom) -> bool:
    return (
        isinstance(node.module, cst.Name)
        and node.module.value == "__future__"
        and not node.relative
    )


def _future_or_docstring(stmt: cst.BaseStatement, first: bool) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return False
    for small in stmt.body:
        if isinstance(small, cst.ImportFrom) and _is_future(small):
            continue
        if (
            first
            and isinstance(small, cst.Expr)
            and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString))
        ):
            continue
        return False
    return True
