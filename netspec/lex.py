"""Text -> tokens for grammar.lark: lark's contextual lexer, started faster, and the newline rules.

lark's contextual lexer gives every parser state its own scanner, a regex
alternation over the terminals that state accepts, so that a word is a keyword
only where a keyword may stand (`block="basic"` passes `block` as a name). This
grammar has 94 distinct scanners and lark compiles each on first use, which cost
every run about 15 ms before its first file was read. `SharedScannerLexer` asks
one scanner over all terminals first. Terminals sit in the same order in every
scanner and the first alternative that matches wins, so when the state accepts
the type of that match it is exactly the token the state's own scanner would
have given; only when it does not (a keyword used as a name) is the state's
scanner built and asked, as lark would. tests/test_frontend.py checks that both
give the same tokens in every state.

Plugged in through lark's `_plugins` option, the hook lark-cython uses.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from copy import copy
from typing import Any

from lark import Token
from lark.common import LexerConf
from lark.exceptions import UnexpectedCharacters, UnexpectedToken
from lark.lexer import AbstractBasicLexer, BasicLexer, ContextualLexer, LexerState

MAX_NESTING = 64

_OPENERS = frozenset(("LPAR", "LSQB", "LBRACE"))
_CLOSERS = frozenset(("RPAR", "RSQB", "RBRACE"))


class SharedScannerLexer(ContextualLexer):
    """lark's ContextualLexer, trying one shared scanner before each state's own.

    A state's own lexer is also made only when first needed: lark makes all of them
    (one per distinct set of terminals) when the parser is loaded.
    """

    def __init__(
        self, conf: LexerConf, states: dict[int, Collection[str]], always_accept: Collection[str] = ()
    ) -> None:
        # What ContextualLexer.__init__ does, minus making every state's lexer up front.
        extra = frozenset(always_accept)
        self.accepts = {state: frozenset(names) | extra for state, names in states.items()}
        self._conf, self._extra = conf, set(conf.ignore) | extra
        self._by_terminals: dict[frozenset[str], AbstractBasicLexer] = {}
        self.lexers = _LexersByState(self._state_lexer)
        root_conf = copy(conf)
        root_conf.terminals = list(conf.terminals)
        root_conf.skip_validation = True
        self.root_lexer = self.BasicLexer(root_conf)

    def _state_lexer(self, state: int) -> AbstractBasicLexer:
        names = self.accepts[state]
        lexer = self._by_terminals.get(names)
        if lexer is None:
            conf = copy(self._conf)
            by_name = conf.terminals_by_name
            conf.terminals = [by_name[n] for n in names | self._extra if n in by_name]
            lexer = self._by_terminals[names] = self.BasicLexer(conf)
        return lexer

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[Token]:
        root = self.root_lexer
        assert isinstance(root, BasicLexer)
        scanner = root.scanner  # every terminal; builds root.callback too (keywords inside NAME)
        callbacks, ignore, newline_types = root.callback, root.ignore_types, root.newline_types
        text, line_ctr = lexer_state.text, lexer_state.line_ctr
        try:
            while line_ctr.char_pos < text.end:
                state = parser_state.position
                res = scanner.match(text, line_ctr.char_pos)
                if res is None:  # nothing matches: let the state's lexer raise lark's error
                    yield self.lexers[state].next_token(lexer_state, parser_state)
                    continue
                value, kind = res
                if kind in ignore:  # blanks and comments mean the same in every state
                    line_ctr.feed(value, kind in newline_types)
                    continue
                tok = Token(kind, value, line_ctr.char_pos, line_ctr.line, line_ctr.column)
                if kind in callbacks:
                    tok = callbacks[kind](tok)
                if tok.type not in self.accepts[state]:
                    yield self.lexers[state].next_token(lexer_state, parser_state)
                    continue
                line_ctr.feed(value, kind in newline_types)
                tok.end_line, tok.end_column, tok.end_pos = line_ctr.line, line_ctr.column, line_ctr.char_pos
                lexer_state.last_token = tok
                yield tok
        except EOFError:
            pass
        except UnexpectedCharacters as e:  # as lark's ContextualLexer.lex: name the token if one fits anywhere
            try:
                last_token = lexer_state.last_token
                token = root.next_token(lexer_state, parser_state)
                raise UnexpectedToken(  # type: ignore[no-untyped-call]
                    token,
                    e.allowed,
                    state=parser_state,
                    token_history=[last_token],
                    terminals_by_name=root.terminals_by_name,
                ) from None
            except UnexpectedCharacters:
                raise e from None


class _LexersByState(dict[int, AbstractBasicLexer]):
    """Parser state -> that state's own lexer, made on first lookup."""

    def __init__(self, make: Callable[[int], AbstractBasicLexer]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, state: int) -> AbstractBasicLexer:
        lexer = self[state] = self._make(state)
        return lexer


class TooDeep(Exception):
    """Raised by the post-lexer at the bracket that opens one level too many."""

    def __init__(self, tok: Token) -> None:
        super().__init__(tok)
        self.tok = tok


class Newlines:
    """Drop newlines inside ( ) and [ ], and after a trailing `->`; bound bracket nesting.

    The bound is checked here, on real tokens (brackets in strings and comments do not
    count), so it costs no extra pass and a 100,000-deep nesting stops at level 65.
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        stack: list[str] = []
        prev = ""
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if (stack and stack[-1] != "LBRACE") or prev == "->":
                    continue
            elif kind in _OPENERS:
                stack.append(kind)
                if len(stack) > MAX_NESTING:
                    raise TooDeep(tok)
            elif kind in _CLOSERS and stack:
                stack.pop()
            prev = tok.value
            yield tok
