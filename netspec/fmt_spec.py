"""Lay out a `.net` file the one canonical way (`netspec fmt`), comments kept.

The formatter never rebuilds a file from its AST. It walks the file's own tokens
(lark's parse tree, every token kept, so each knows the rule it belongs to) and the
text between them (blanks, newlines, comments), and decides only the whitespace:

- indentation: 2 spaces for each open `{`; a line inside `( )` or `[ ]` lines up
  after its bracket, or sits 2 deeper than the bracket's line when the bracket ends
  its line (a closing bracket alone on a line goes back to that line's indent); a
  chain continued after a trailing `->` (or a `\\`) is indented 4;
- spaces between tokens: one, except none inside brackets, before `, ; : )` and
  `]`, around `.`, after a unary sign, before the `(` of a call or definition and
  the `[` of an index; `=` is spaced in `let`, aliases, `residual(...)` options and
  typed parameters (`rd: int = 8`) but tight in arguments and untyped defaults
  (`k=3`, `stride=1`), as in Python; operators are spaced, except inside an op's
  keyword argument (`k=2*r`, where a space would read as the next argument) and
  `**` between simple operands (`2**s`, as black does);
- extra spaces that align columns are kept: after `,` `;` and `:`, after `(` and
  `[` before a number (a right-aligned table), and before a comment (at least two
  there);
- line breaks stay where they are; blank lines are at most two at the top level
  and one inside braces or brackets, none at the start of a body or before its
  closing brace, none at the start or end of the file; a `;` that separates
  nothing (at a line's end, before `}`) goes; trailing whitespace goes; the file
  ends with one newline.

The result parses to the same AST (spans aside) and so checks to the same graph;
formatting is idempotent. Text that does not parse raises the parser's SpecError.

    >>> format_text("network n(){input 3x8x8 ;conv 8 k = 3 ->relu;}")
    'network n() { input 3x8x8; conv 8 k=3 -> relu }\\n'
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Tree

from .errors import SpecError, escape_controls, use_color
from .parse import build_lark, parse

INDENT = 2  # per open `{`, and for the contents of a bracket that ends its line
CONTINUATION = 4  # a chain continued on the next line after `->` or `\`
MAX_BLANK_TOP = 2  # blank lines between top-level items
MAX_BLANK_INNER = 1  # blank lines inside braces and brackets
COMMENT_GAP = 2  # spaces at least before a comment that ends a line

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = frozenset(_OPENERS.values())
_CALL_RULES = frozenset(("block_def", "network_def", "network_alias", "residual", "block_call", "func_call"))
_UNTIGHT_RULES = frozenset(("paren", "list_", "tuple_", "listcomp", "func_call", "args"))
_SIMPLE_RULES = frozenset(("name", "int_", "float_", "in_"))
_ALIGN_AFTER = frozenset((",", ";", ":"))
_BACKSLASH_NL = re.compile(r"\\\r?\n")
_GAP = re.compile(r"(?P<nl>\r?\n)|(?P<ws>[ \t\f]+)|(?P<comment>#[^\n]*)|(?P<bs>\\\r?\n)")


# ---------------------------------------------------------------- tokens


@lru_cache(maxsize=1)
def _tree_parser() -> Lark:
    """The grammar again, building a parse tree that keeps every token (keywords, brackets, `;`)."""
    return build_lark("\n// keep_all_tokens: the formatter's parse tree", keep_all_tokens=True, start="start")


def grammar_keywords() -> frozenset[str]:
    """Every word the grammar reserves somewhere: its terminals whose pattern is a plain lowercase word.

    >>> sorted(grammar_keywords())[:4]
    ['and', 'block', 'dense', 'else']
    """
    words = set()
    for term in _tree_parser().terminals:
        value = term.pattern.value
        if term.pattern.type == "str" and value.isalpha() and value.islower():
            words.add(value)
    return frozenset(words)


@dataclass
class _Tok:
    """One token of the file and what its neighbours may do with the space around it."""

    text: str
    type: str
    start: int
    end: int
    glue_before: bool = False  # no space between the previous token and this one
    glue_after: bool = False  # no space between this token and the next


def _tokens(tree: Tree[Token]) -> list[_Tok]:
    """The tree's tokens in source order, each marked with the spacing its rule wants."""
    out: list[_Tok] = []
    # An explicit stack rather than recursion: a long `not not ...` or `- - ...` nests deeply.
    stack: list[tuple[Tree[Token] | Token, Tree[Token], bool]] = [(tree, tree, False)]
    while stack:
        node, parent, tight = stack.pop()
        if isinstance(node, Token):
            if node.type != "_NL":
                out.append(_mark(node, parent, tight))
            continue
        kids = [c for c in node.children if c is not None]
        for i in range(len(kids) - 1, -1, -1):
            stack.append((kids[i], node, _child_tight(node, i, tight)))
    return out


def _child_tight(node: Tree[Token], index: int, tight: bool) -> bool:
    """Whether operators in child `index` of `node` are written without spaces."""
    rule = node.data
    if rule == "kwarg" and index == 2:
        return True  # `k=2*r`: a space would read as the next argument
    if rule in _UNTIGHT_RULES or (rule == "index" and index == 2):
        return False  # inside brackets spaces are unambiguous again
    return tight


def _mark(tok: Token, parent: Tree[Token], tight: bool) -> _Tok:
    """A token with the glue its place in `parent` asks for."""
    text, rule = str(tok), parent.data
    t = _Tok(text, tok.type, tok.start_pos or 0, tok.end_pos or 0)
    if text in ("(", "["):
        t.glue_after = True
        t.glue_before = (text == "(" and rule in _CALL_RULES) or (text == "[" and rule == "index")
    elif text in (")", "]", ",", ";", ":"):
        t.glue_before = True
    elif text == "." and rule == "attr":
        t.glue_before = t.glue_after = True
    elif text == "=":
        kids = [c for c in parent.children if c is not None]
        typed = rule == "param" and any(isinstance(c, Token) and c == ":" for c in kids)
        t.glue_before = t.glue_after = rule in ("kwarg", "kwarg_t") or (rule == "param" and not typed)
    elif tok.type in ("ADD_OP", "MUL_OP", "POW") and rule in ("binop", "pow_"):
        hug = tight or (rule == "pow_" and all(_simple(c) for c in parent.children if c is not tok))
        t.glue_before = t.glue_after = hug
    elif tok.type == "ADD_OP" and rule == "neg":
        t.glue_after = True
    return t


def _simple(node: Tree[Token] | Token | None) -> bool:
    """A name, a number, `in` or an attribute chain of them, maybe signed: `2**s`, `x**-1` (black's rule)."""
    if isinstance(node, Token):
        return True
    if node is None:
        return False
    if node.data in _SIMPLE_RULES:
        return True
    if node.data == "attr":
        return _simple(node.children[0])
    if node.data == "neg":
        return _simple(node.children[-1])
    return False


# ---------------------------------------------------------------- layout


@dataclass
class _Frame:
    """An open bracket: where the lines inside it start, where its closer goes, the line it opened on."""

    opener: str
    inner: int
    close: int
    line: int


class _Layout:
    """Emit the tokens line by line, deciding indentation, spaces and blank lines."""

    def __init__(self, text: str, toks: list[_Tok]) -> None:
        self.text = text
        self.toks = toks
        self.lines: list[str] = []
        self.cur: list[str] | None = None  # the line being built
        self.col = 0  # its length so far
        self.stack: list[_Frame] = []
        self.newlines = 0  # line ends since the last thing written
        self.prev: _Tok | None = None  # the last token written on the current line
        self.last: _Tok | None = None  # the last token written anywhere
        self.after_opener = False  # nothing but a comment since an opener ended a line
        self.cont = False  # the next line continues a statement (after `->` or `\`)
        self.base = 0  # indent a `{` on this line counts from (see _open)

    # ------------------------------------------------------------ driver
    def run(self) -> str:
        pos = 0
        for i, tok in enumerate(self.toks):
            spaces = self._gap(self.text[pos : tok.start])
            if tok.text == ";" and self._redundant_semicolon(i):
                pos = tok.end
                continue
            self._token(tok, spaces, i)
            pos = tok.end
        self._gap(self.text[pos:])
        self._end_line()
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "".join(line + "\n" for line in self.lines)

    def _gap(self, gap: str) -> str:
        """Handle the newlines, comments and `\\` between two tokens; return the blanks before the next."""
        spaces = ""
        at = 0
        for m in _GAP.finditer(gap):
            if m.start() != at:
                raise AssertionError(f"unexpected text between tokens: {gap[at : m.start()]!r}")
            at = m.end()
            kind = m.lastgroup
            if kind == "ws":
                spaces = m.group()
                continue
            if kind == "nl":
                self._end_line()
                self.newlines += 1
            elif kind == "comment":
                self._comment(m.group().rstrip(), spaces)
            elif self.cur is not None:  # `\` newline: the statement goes on
                self._append("\\", 1)
                self._end_line()
                self.cont = True
            # (a `\` alone on a line joins nothing to nothing: it goes)
            spaces = ""
        if at != len(gap):
            raise AssertionError(f"unexpected text between tokens: {gap[at:]!r}")
        return spaces

    def _redundant_semicolon(self, i: int) -> bool:
        """A `;` at a line's start or end, before `}` or another `;`, or after `{`, separates nothing."""
        nxt = self.toks[i + 1] if i + 1 < len(self.toks) else None
        if nxt is None or nxt.text in ("}", ";") or _breaks(self.text[self.toks[i].end : nxt.start]):
            return True
        return self.cur is None or self.prev is None or self.prev.text in ("{", ";")

    # ------------------------------------------------------------ lines
    def _start_line(self, indent: int, closer: bool) -> None:
        blanks = max(self.newlines - 1, 0)
        if not self.lines or self.after_opener or closer:
            blanks = 0
        blanks = min(blanks, MAX_BLANK_INNER if self.stack else MAX_BLANK_TOP)
        self.lines.extend([""] * blanks)
        self.cur = [" " * indent]
        self.col = indent
        self.newlines = 0
        self.after_opener = False
        self.prev = None
        self.base = indent

    def _end_line(self) -> None:
        if self.cur is None:
            return
        self.lines.append("".join(self.cur).rstrip())
        self.cur = None
        self.cont = self.last is not None and self.last.text == "->"

    def _append(self, piece: str, space: int) -> None:
        assert self.cur is not None
        self.cur.append(" " * space + piece)
        self.col += space + len(piece)

    def _indent(self, closer: bool) -> int:
        if not self.stack:
            return 0
        top = self.stack[-1]
        if closer:
            return top.close
        if self.cont and top.opener == "{":
            return top.inner + CONTINUATION
        return top.inner

    # ------------------------------------------------------------ pieces
    def _comment(self, text: str, spaces: str) -> None:
        if self.cur is not None:  # after code on the same line
            align = len(spaces) if spaces.strip(" ") == "" else 0
            self._append(text, max(COMMENT_GAP, align))
        else:
            self._start_line(self._indent_for_comment(), False)
            self._append(text, 0)
            self.after_opener = False

    def _indent_for_comment(self) -> int:
        if not self.stack:
            return 0
        top = self.stack[-1]
        return top.inner + (CONTINUATION if self.cont and top.opener == "{" else 0)

    def _token(self, tok: _Tok, spaces: str, i: int) -> None:
        closer = tok.text in _CLOSERS
        if self.cur is None:
            self._start_line(self._indent(closer), closer)
            space = 0
        else:
            space = _space(self.prev, tok)
            if _aligns(self.prev, tok) and spaces.strip(" ") == "":
                space = max(space, len(spaces))  # a column the author lined up
        self._append(tok.text, space)
        self.prev = self.last = tok
        if tok.text in _OPENERS:
            self._open(tok, i)
        elif closer and self.stack:
            frame = self.stack.pop()
            if frame.line != len(self.lines):
                self.base = min(self.base, frame.close)  # `...) {`: the brace counts from the `(`'s line
        self.after_opener = tok.text in _OPENERS

    def _open(self, tok: _Tok, i: int) -> None:
        here = len(self.lines)
        line_indent = len(self.cur[0]) if self.cur else 0
        if tok.text == "{":
            self.stack.append(_Frame("{", self.base + INDENT, self.base, here))
            return
        nxt = self.toks[i + 1] if i + 1 < len(self.toks) else None
        hanging = nxt is None or _breaks(self.text[tok.end : nxt.start])
        inner = line_indent + INDENT if hanging else self.col
        self.stack.append(_Frame(tok.text, inner, line_indent, here))


def _breaks(gap: str) -> bool:
    """Whether the text between two tokens ends a line: a newline or a comment, not a `\\` newline."""
    return "#" in gap or "\n" in _BACKSLASH_NL.sub("", gap)


def _aligns(prev: _Tok | None, tok: _Tok) -> bool:
    """Whether extra spaces between these tokens may line up a column (and so are kept).

    After `,` `;` and a label's `:` they may; after `(` and a list's `[` only before a
    number, which a table right-aligns (`inception( 128,`); elsewhere they are sloppiness.
    """
    if prev is None:
        return False
    if prev.text in _ALIGN_AFTER:
        return True
    opens_row = prev.text == "(" or (prev.text == "[" and not prev.glue_before)  # not an index
    return opens_row and (tok.type in ("INT", "FLOAT") or tok.text in ("-", "+"))


def _space(prev: _Tok | None, tok: _Tok) -> int:
    """Spaces between two tokens on one line."""
    if prev is None:
        return 0
    if prev.text == "{" and tok.text == "}":
        return 0
    if tok.text == "." and prev.type in ("INT", "FLOAT"):
        return 1  # `3 .x`: `3.x` would read as a float
    return 0 if prev.glue_after or tok.glue_before else 1


def format_text(text: str, file: str = "<string>") -> str:
    """Return `text` in the canonical layout; raise the parser's SpecError if it does not parse.

    >>> print(format_text("block b(c){\\n   conv c k = 3 # a comment\\n\\n\\n  relu;\\n}"), end="")
    block b(c) {
      conv c k=3  # a comment
    <BLANKLINE>
      relu
    }
    """
    parse(text, file)  # the located error, worded as everywhere else
    tree = _tree_parser().parse(text)
    return _Layout(text, _tokens(tree)).run()


# ---------------------------------------------------------------- files and the command


def _read(path: Path) -> str:
    """A spec file's text as it is (`\\r\\n` kept), read as every spec is read (netspec.files)."""
    from .files import read_spec

    return read_spec(path)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` all at once (netspec.files.write_atomic: a temporary file with a
    short name in the same folder, then os.replace). The file keeps its permission bits, and a
    symlink keeps pointing at its (new) target."""
    from .files import real
    from .files import write_atomic as write

    write(real(path), text.encode("utf-8"))


def _files(args: list[str]) -> Iterator[Path | None]:
    """The paths named, with folders expanded to their `.net` files; None stands for stdin (`-`)."""
    for arg in args:
        if arg == "-":
            yield None
        elif Path(arg).is_dir():
            yield from sorted(p for p in Path(arg).rglob("*.net") if p.is_file())
        else:
            yield Path(arg)


def _lines(text: str) -> list[str]:
    """Lines with their ends, split at `\\n` only, as the lexer counts them (not str.splitlines())."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def _diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(_lines(old), _lines(new), f"{name} (original)", f"{name} (formatted)")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def fmt_cli(args: argparse.Namespace) -> int:
    """`netspec fmt FILE...`: rewrite files in the canonical layout.

    `--check` writes nothing and lists the files that would change (exit 1 if any);
    `--diff` writes nothing and prints a unified diff; `-` reads stdin and writes the
    result to stdout. A file that does not parse is left alone: its located error goes
    to stderr and the exit status is 1.
    """
    status = 0
    for path in _files(args.files):
        name = "<stdin>" if path is None else str(path)
        try:
            old = sys.stdin.read() if path is None else _read(path)
        except SpecError as err:  # a device, a folder, too large, not UTF-8 ...
            print(err.render(color=use_color(sys.stderr)), file=sys.stderr)
            status = 1
            continue
        except (OSError, UnicodeDecodeError) as err:
            print(f"{escape_controls(name, True)}: error: cannot read: {err}", file=sys.stderr)
            status = 1
            continue
        try:
            new = format_text(old, name)
        except SpecError as err:
            print(err.render(color=use_color(sys.stderr)), file=sys.stderr)
            status = 1
            continue
        changed = new != old
        if args.diff and changed:
            sys.stdout.write(_diff(old, new, name))
        if args.check:
            if changed:
                print(f"would reformat {escape_controls(name, True)}", file=sys.stderr)
                status = 1
        elif path is None:
            if not args.diff:
                sys.stdout.write(new)
        elif changed and not args.diff:
            try:
                write_atomic(path, new)
            except SpecError as err:  # the old file stays as it was
                print(err.render(color=use_color(sys.stderr)), file=sys.stderr)
                status = 1
                continue
            print(f"reformatted {escape_controls(name, True)}", file=sys.stderr)
    return status
