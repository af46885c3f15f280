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
import itertools
import re
from collections.abc import Iterator, Mapping

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange

_NEWLINE = re.compile(r"\r\n?|\n")  # libcst's own newline pattern
_LOW = (1 << 32) - 1


class _Part:
    """The ranges recorded by one code generation: token indices packed in one int per node
    (by id), turned into character offsets with the cumulated token lengths."""

    __slots__ = ("base", "cum", "ranges")

    def __init__(self, state: _OffsetState, base: int) -> None:
        self.ranges = state.ranges
        self.cum = [0, *itertools.accumulate(map(len, state.tokens))]
        self.base = base

    def offsets(self, node_id: int) -> tuple[int, int] | None:
        packed = self.ranges.get(node_id)
        if packed is None:
            return None
        cum = self.cum
        return self.base + cum[packed >> 32], self.base + cum[packed & _LOW]


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
        self._parts: dict[int, _Part] = {}  # by top-level statement
        self._whole: _Part | None = None
        self._nodes: dict[int, cst.CSTNode] = {}
        self._line_starts: list[int] | None = None
        self._complete = False
        self._public: Mapping[cst.CSTNode, CodeRange] | None = None
        self._starts: list[int] | None = None
        self._first_lines: list[int] | None = None
        self._scanned = False
        if source is None:
            self._complete_all()

    @property
    def generated(self) -> int:
        """How many top-level statements were generated on their own."""
        return len(self._parts)

    @property
    def complete(self) -> bool:
        """Whether the whole module had to be generated (else only some statements were)."""
        return self._complete

    # -- Mapping ---------------------------------------------------------------------------

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._offsets(node)
        if found is None and not self._complete:
            self._locate(node)
            found = self._offsets(node)
        if self._public is not None:
            return self._public[node]
        if found is None:
            raise KeyError(node)
        return CodeRange(self._position(found[0]), self._position(found[1]))

    def __iter__(self) -> Iterator[cst.CSTNode]:
        self._complete_all()
        return iter(self._public if self._public is not None else self._nodes.values())

    def __len__(self) -> int:
        self._complete_all()
        return len(self._public if self._public is not None else self._nodes)

    def __contains__(self, node: object) -> bool:
        try:
            self[node]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def line(self, node: cst.CSTNode) -> int | None:
        """The 1-based line where ``node`` starts, None when it is not in the module.

        A node of a top-level statement that fits on one line is on that line: no code is
        generated to tell.
        """
        k = self._statement_of.get(id(node))
        if k is not None and self._whole is None and k not in self._parts:
            starts = self._statement_starts()
            first = self._first_lines
            if starts is not None and first is not None and self._line_starts is not None:
                end = starts[k + 1] if k + 1 < len(starts) else None
                line = bisect.bisect_right(self._line_starts, first[k])
                if end is not None and self._line_starts[line] == end:
                    return line  # the statement's code ends with its first line
        try:
            return self[node].start.line
        except KeyError:
            return None

    # -- computing -------------------------------------------------------------------------

    def _offsets(self, node: cst.CSTNode) -> tuple[int, int] | None:
        if self._whole is not None:
            return self._whole.offsets(id(node))
        k = self._statement_of.get(id(node))
        part = None if k is None else self._parts.get(k)
        return None if part is None else part.offsets(id(node))

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
            state = _OffsetState(self._module, self._nodes)
            self._module._codegen(state)
            if id(self._module) not in state.ranges:
                raise LookupError("no position for the module")
            self._whole = _Part(state, 0)
            self._line_starts = _line_starts("".join(state.tokens))
        except Exception:
            from libcst.metadata import MetadataWrapper, PositionProvider

            wrapper = MetadataWrapper(self._module, unsafe_skip_copy=True)
            self._public = wrapper.resolve(PositionProvider)

    def _generate(self, k: int, starts: list[int]) -> bool:
        """Generates top-level statement ``k`` from its offset; False when the text there
        is not the statement's code."""
        if k in self._parts:
            return False  # generated already, and the node is not in it
        source = self._source
        assert source is not None
        state = _OffsetState(self._module)
        self._module.body[k]._codegen(state)
        text = "".join(state.tokens)
        end = starts[k] + len(text)
        if not source.startswith(text, starts[k]):
            return False
        if k + 1 < len(starts) and starts[k + 1] != end:
            return False
        self._parts[k] = _Part(state, starts[k])
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
            self._first_lines = first_lines
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
    """Code generation that records each node's first and last token index, packed in one
    int under the node's id, instead of the line/column objects that libcst's provider
    builds per node (tokens are appended by the list's own method: no call per token)."""

    def __init__(self, module: cst.Module, nodes: dict[int, cst.CSTNode] | None = None) -> None:
        super().__init__(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        self.starts: list[int] = []
        self.ranges: dict[int, int] = {}
        self.nodes = nodes  # filled for iteration when given
        self.add_token = self.tokens.append  # type: ignore[method-assign,assignment]

    def pop_trailing_newline(self) -> None:
        pass  # positions already count it, as libcst's provider does; the text keeps it

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.starts.append(len(self.tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        # A syntactic position recorded during the node's generation wins.
        self.ranges.setdefault(id(node), (self.starts.pop() << 32) | len(self.tokens))
        if self.nodes is not None:
            self.nodes[id(node)] = node

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
        self.start = len(self.state.tokens)

    def __exit__(self, *exc: object) -> None:
        ranges = self.state.ranges
        start = self.start if self.start_node is None else ranges[id(self.start_node)] >> 32
        end = len(self.state.tokens) if self.end_node is None else ranges[id(self.end_node)] & _LOW
        ranges[id(self.node)] = (start << 32) | end
