"""Where each node is in the source: libcst's ``PositionProvider`` ranges, node for node, at a
fraction of its cost.

libcst computes positions by generating the code of the whole module and building two
position objects per node. Here code generation records character offsets only (one int per
node), converted to lines and columns when a range is asked for; and when the source text is
known, only the top-level statements that hold the nodes asked about are generated. Their
start offsets come from one scan of the source for the lines that begin top-level statements,
and each generated statement is checked against the source at that offset, so a scan that
went wrong (syntax the scan does not know, such as a quote nested in an f-string of Python
3.12) falls back to generating the whole module. Code generation hooks are libcst's private
API: a failure there falls back to libcst's public provider.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Mapping

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange

_NEWLINE = re.compile(r"\r\n?|\n")  # libcst's own newline pattern
_LOW = (1 << 32) - 1


class Positions(Mapping[cst.CSTNode, CodeRange]):
    """The source range of each node of a module, computed on demand."""

    def __init__(
        self, module: cst.Module, source: str | None, statement_of: Mapping[int, int]
    ) -> None:
        """Args:
        module: The module.
        source: The text it was parsed from; None generates the whole module at once.
        statement_of: For each code node (by id), the top-level statement holding it.
        """
        self._module = module
        self._source = source
        self._statement_of = statement_of
        self._ranges: dict[cst.CSTNode, int] = {}
        self._line_starts: list[int] | None = None
        self._complete = False
        self._public: Mapping[cst.CSTNode, CodeRange] | None = None
        self._starts: list[int] | None = None
        self._scanned = False
        self._generated: set[int] = set()
        if source is None:
            self._complete_all()

    @property
    def complete(self) -> bool:
        """Whether the whole module had to be generated (else only some statements were)."""
        return self._complete

    # -- Mapping ---------------------------------------------------------------------------

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        if self._public is not None:
            return self._public[node]
        packed = self._ranges.get(node)
        if packed is None and not self._complete:
            self._locate(node)
            if self._public is not None:
                return self._public[node]
            packed = self._ranges.get(node)
        if packed is None:
            raise KeyError(node)
        return CodeRange(self._position(packed >> 32), self._position(packed & _LOW))

    def __iter__(self) -> Iterator[cst.CSTNode]:
        self._complete_all()
        return iter(self._public if self._public is not None else self._ranges)

    def __len__(self) -> int:
        self._complete_all()
        return len(self._public if self._public is not None else self._ranges)

    def __contains__(self, node: object) -> bool:
        try:
            self[node]  # type: ignore[index]
        except KeyError:
            return False
        return True

    # -- computing -------------------------------------------------------------------------

    def _position(self, offset: int) -> CodePosition:
        starts = self._line_starts
        assert starts is not None
        line = bisect.bisect_right(starts, offset)
        return CodePosition(line, offset - starts[line - 1])

    def _locate(self, node: cst.CSTNode) -> None:
        """Generates the statement that holds ``node``, or everything when that fails."""
        try:
            k = self._statement_of.get(id(node))
            starts = self._statement_starts()
            if k is not None and starts is not None and self._generate(k, starts):
                return
        except Exception:
            pass
        self._complete_all()

    def _complete_all(self) -> None:
        if self._complete:
            return
        self._complete = True
        try:
            state = _OffsetState(self._module)
            self._module._codegen(state)
            if self._module not in state.ranges:
                raise LookupError("no position for the module")
            self._ranges = state.ranges
            self._line_starts = _line_starts("".join(state.tokens))
        except Exception:
            from libcst.metadata import MetadataWrapper, PositionProvider

            wrapper = MetadataWrapper(self._module, unsafe_skip_copy=True)
            self._public = wrapper.resolve(PositionProvider)

    def _generate(self, k: int, starts: list[int]) -> bool:
        """Generates top-level statement ``k`` from its offset; False when the text there
        is not the statement's code."""
        if k in self._generated:
            return False  # generated already, and the node is not in it
        source = self._source
        assert source is not None
        state = _OffsetState(self._module)
        state.offset = starts[k]
        self._module.body[k]._codegen(state)
        text = "".join(state.tokens)
        end = starts[k] + len(text)
        if not source.startswith(text, starts[k]):
            return False
        if k + 1 < len(starts) and starts[k + 1] != end:
            return False
        self._ranges.update(state.ranges)
        self._generated.add(k)
        return True

    def _statement_starts(self) -> list[int] | None:
        """The offset where the code of each top-level statement starts (its leading
        comments and blank lines included), or None when the scan cannot tell."""
        if not self._scanned:
            self._scanned = True
            source = self._source
            assert source is not None
            if self._line_starts is None:
                self._line_starts = _line_starts(source)
            first_lines = _first_code_lines(source)
            body = self._module.body
            if first_lines is None or len(first_lines) != len(body):
                return None
            line_starts = self._line_starts
            starts: list[int] = []
            for offset, stmt in zip(first_lines, body, strict=True):
                line = bisect.bisect_right(line_starts, offset) - 1 - len(stmt.leading_lines)
                if line < 0:
                    return None
                starts.append(line_starts[line])
            self._starts = starts
        return self._starts


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _NEWLINE.finditer(text))]


# -- the scan --------------------------------------------------------------------------------

_INTERESTING = re.compile(r"""['"#()\[\]{}\\\r\n]""")
_STRING_END = {
    "'": re.compile(r"(?:[^'\\\r\n]|\\[\s\S])*'"),
    '"': re.compile(r'(?:[^"\\\r\n]|\\[\s\S])*"'),
    "'''": re.compile(r"(?:[^'\\]|\\[\s\S]|'(?!''))*'''"),
    '"""': re.compile(r'(?:[^"\\]|\\[\s\S]|"(?!""))*"""'),
}
_COMMENT = re.compile(r"[^\r\n]*")
_CLAUSE = re.compile(r"(?:else|elif|except|finally)\b")


def _first_code_lines(source: str) -> list[int] | None:
    """The offset of the first code line of each top-level statement, in order.

    A top-level statement starts where a logical line (outside brackets, strings and
    backslash continuations) begins at column 0 with code, unless it continues a compound
    statement (``else``, ``elif``, ``except``, ``finally``) or follows a decorator.
    """
    starts: list[int] = []
    n = len(source)
    pos = 0
    depth = 0
    line_start = True
    decorated = False
    search = _INTERESTING.search
    while True:
        if line_start:
            line_start = False
            if pos < n and source[pos] not in " \t\f\r\n#\\":
                if _CLAUSE.match(source, pos):
                    pass
                elif decorated:
                    decorated = source[pos] == "@"
                else:
                    starts.append(pos)
                    decorated = source[pos] == "@"
        m = search(source, pos)
        if m is None:
            return starts
        ch = m.group()
        pos = m.end()
        if ch == "\n" or ch == "\r":
            if ch == "\r" and source.startswith("\n", pos):
                pos += 1
            line_start = depth == 0
        elif ch == "#":
            end = _COMMENT.match(source, pos)
            assert end is not None
            pos = end.end()
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "\\":
            if source.startswith("\r\n", pos):
                pos += 2
            elif pos < n and source[pos] in "\r\n":
                pos += 1
        else:
            quote = ch
            if source.startswith(quote * 2, pos):
                quote *= 3
                pos += 2
            end = _STRING_END[quote].match(source, pos)
            if end is None:
                return None
            pos = end.end()


# -- offset-recording code generation -----------------------------------------------------------


class _OffsetState(CodegenState):
    """Code generation that records each node's (start, end) character offsets, packed in
    one int, instead of the line/column objects that libcst's provider builds per node."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        self.offset = 0
        self.starts: list[int] = []
        self.ranges: dict[cst.CSTNode, int] = {}

    def add_indent_tokens(self) -> None:
        self.tokens.extend(self.indent_tokens)
        for token in self.indent_tokens:
            self.offset += len(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        self.offset += len(value)

    def pop_trailing_newline(self) -> None:
        pass  # offsets already count it, as libcst's provider does; the text keeps it

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.starts.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        # A syntactic position recorded during the node's generation wins.
        self.ranges.setdefault(node, (self.starts.pop() << 32) | self.offset)

    def record_syntactic_position(  # type: ignore[override]
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> _Syntactic:
        return _Syntactic(self, node, start_node, end_node)


class _Syntactic:
    """The range of a node without its surrounding whitespace, as libcst records it."""

    __slots__ = ("end_node", "node", "start", "start_node", "state")

    def __init__(
        self,
        state: _OffsetState,
        node: cst.CSTNode,
        start_node: cst.CSTNode | None,
        end_node: cst.CSTNode | None,
    ) -> None:
        self.state = state
        self.node = node
        self.start_node = start_node
        self.end_node = end_node
        self.start = 0

    def __enter__(self) -> None:
        self.start = self.state.offset

    def __exit__(self, *exc: object) -> None:
        ranges = self.state.ranges
        start = self.start if self.start_node is None else ranges[self.start_node] >> 32
        end = self.state.offset if self.end_node is None else ranges[self.end_node] & _LOW
        ranges[self.node] = (start << 32) | end
