"""lark's LALR tables and rule callbacks, driven by one loop that lexes as it parses.

lark's own loop passes each token through two generators (`SharedScannerLexer.lex`
and the `Newlines` post-lexer), builds it through a generic constructor, feeds a
line counter object, and finds each reduction's callback by a rule object whose
hash and equality are Python methods: about 15 us a token, most of the time
spent checking a long flat file. `FastParser.parse` does the same steps, in the
same order, with the same tables, scanner and callbacks, inside one function.

It takes no decision of its own about what is an error: anything outside the
common path (a character no terminal matches, a token the parser state does not
accept, brackets nested too deep) raises `Fallback`, and the caller hands the text
to lark, which then raises its usual error. A token that the shared scanner gives
but the state does not accept (a keyword used as a name) is re-read by that
state's own lexer, as `SharedScannerLexer` does. tests/test_frontend.py checks
that both paths give the same AST for every spec in the library.
"""

from __future__ import annotations

from typing import Any

from lark import Lark, Token
from lark.lexer import LexerState, LineCounter, UnlessCallback
from lark.parsers.lalr_analysis import Shift
from lark.utils import TextSlice

from .lex import _CLOSERS, _OPENERS, MAX_NESTING, SharedScannerLexer


class Fallback(Exception):
    """The text needs lark's own loop (which gives the error, if there is one)."""


class _Position:
    """What a state's lexer reads from lark's parser state: the state number."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position


class _States(dict[int, dict[str, tuple[bool, Any]]]):
    """Parser state -> {terminal or rule name: (shift?, next state or (size, callback, rule name))}.

    Made from lark's table on first use of each state, so startup pays only for the
    states a file reaches.
    """

    def __init__(self, table: dict[Any, dict[str, tuple[Any, Any]]], callbacks: dict[Any, Any]) -> None:
        super().__init__()
        self._table, self._callbacks = table, callbacks
        self._rules: dict[int, tuple[int, Any, str]] = {}

    def __missing__(self, state: int) -> dict[str, tuple[bool, Any]]:
        row: dict[str, tuple[bool, Any]] = {}
        for name, (action, arg) in self._table[state].items():
            if action is Shift:
                row[str(name)] = (True, arg)
            else:
                rule = self._rules.get(id(arg))
                if rule is None:
                    rule = self._rules[id(arg)] = (len(arg.expansion), self._callbacks[arg], str(arg.origin.name))
                row[str(name)] = (False, rule)
        self[state] = row
        return row


class FastParser:
    """`parse(text, start)` as `lark_parser.parse(text, start=start)` gives it, for a grammar
    read by `SharedScannerLexer` and `Newlines` (netspec's), when the text parses."""

    def __init__(self, lark_parser: Lark) -> None:
        frontend = lark_parser.parser
        lalr = frontend.parser.parser
        table = lalr.parse_table
        self._callbacks: dict[Any, Any] = lalr.callbacks
        self._states = _States(table.states, self._callbacks)
        self._start_states: dict[str, int] = table.start_states
        self._end_states: dict[str, int] = table.end_states
        lexer = frontend.lexer.lexer
        assert isinstance(lexer, SharedScannerLexer)
        self._lexer = lexer
        root = lexer.root_lexer
        scanner = root.scanner  # type: ignore[attr-defined]
        if len(scanner._mres) != 1:
            raise ValueError("one scanner regex expected")
        self._match = scanner._mres[0].match
        self._ignore: frozenset[str] = root.ignore_types  # type: ignore[attr-defined]
        self._newline_types: frozenset[str] = root.newline_types  # type: ignore[attr-defined]
        # Keywords inside NAME: lark's callback fully matches plain strings; a dict does the same.
        self._retype: dict[str, dict[str, str]] = {}
        for kind, callback in root.callback.items():  # type: ignore[attr-defined]
            if not isinstance(callback, UnlessCallback):
                raise ValueError(f"unexpected lexer callback for {kind}")
            words: dict[str, str] = {}
            for term in callback.scanner.terminals:
                if term.pattern.type != "str" or term.pattern.flags:
                    raise ValueError(f"unexpected keyword pattern {term.name}")
                words.setdefault(term.pattern.value, term.name)
            self._retype[kind] = words

    def parse(self, text: str, start: str) -> Any:  # noqa: C901 - one loop, kept whole for speed
        states, callbacks, accepts = self._states, self._callbacks, self._lexer.accepts
        match, ignore, newline_types, retype = self._match, self._ignore, self._newline_types, self._retype
        end_state = self._end_states[start]
        new_str = str.__new__
        state_stack: list[int] = [self._start_states[start]]
        value_stack: list[Any] = []
        brackets: list[str] = []
        prev = ""
        pos, end, line, line_start = 0, len(text), 1, 0
        tok: Token | None = None  # None: the end of the text
        while True:
            if pos >= end:
                kind, value, tok = "$END", "", None
            else:
                m = match(text, pos)
                if m is None:
                    raise Fallback
                kind = m.lastgroup
                value = m.group()
                assert kind is not None
                at, at_line, at_col = pos, line, pos - line_start + 1
                pos += len(value)
                if kind in newline_types:
                    n = value.count("\n")
                    if n:
                        line += n
                        line_start = at + value.rindex("\n") + 1
                if kind in ignore:  # blanks and comments, in every state
                    continue
                state = state_stack[-1]
                words = retype.get(kind)
                if words is not None:
                    kind = words.get(value, kind)
                if kind in accepts[state]:
                    tok = new_str(Token, value)  # Token(...) without its two Python-level constructors
                    tok.type, tok.value, tok.start_pos, tok.line, tok.column = kind, value, at, at_line, at_col
                    tok.end_line, tok.end_column, tok.end_pos = line, pos - line_start + 1, pos
                else:  # the state's own lexer reads it (a keyword used as a name...)
                    tok, pos, line, line_start = self._state_token(text, at, at_line, at - at_col + 1, state)
                    kind, value = tok.type, tok.value
            # Newlines: no statement ends inside ( ) and [ ] or after `->`
            if kind == "_NL":
                if (brackets and brackets[-1] != "LBRACE") or prev == "->":
                    continue
            elif kind in _OPENERS:
                brackets.append(kind)
                if len(brackets) > MAX_NESTING:
                    raise Fallback
            elif kind in _CLOSERS and brackets:
                brackets.pop()
            prev = value
            # the LALR step: reduce as long as the table says so, then shift
            while True:
                action = states[state_stack[-1]].get(kind)
                if action is None:
                    raise Fallback
                if action[0]:
                    if tok is None:
                        raise Fallback
                    state_stack.append(action[1])
                    value_stack.append(callbacks[kind](tok) if kind in callbacks else tok)
                    break
                size, callback, origin = action[1]
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                value_stack.append(callback(children))
                state_stack.append(states[state_stack[-1]][origin][1])
                if tok is None and state_stack[-1] == end_state:
                    return value_stack[-1]

    def _state_token(self, text: str, pos: int, line: int, line_start: int, state: int) -> tuple[Token, int, int, int]:
        """The token at `pos` as parser state `state`'s own lexer reads it; then pos, line, line start."""
        counter = LineCounter("\n")  # type: ignore[no-untyped-call]
        counter.char_pos, counter.line, counter.line_start_pos = pos, line, line_start
        counter.column = pos - line_start + 1
        lexer_state = LexerState(TextSlice(text, 0, len(text)), counter, None)
        try:
            tok = self._lexer.lexers[state].next_token(lexer_state, _Position(state))
        except Exception as e:  # no token fits, or only blanks are left: lark says which
            raise Fallback from e
        return tok, counter.char_pos, counter.line, counter.line_start_pos
