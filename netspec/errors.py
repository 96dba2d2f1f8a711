"""SpecError: every mistake a user can make, rendered like a compiler error.

specs/resnet.net:12:5: error: unknown op 'bachnorm'
   12 |     bachnorm
      |     ^^^^^^^^
  at: layer1.0
hint: did you mean 'batchnorm'?
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from typing import TextIO

from .ast import Span

# Source text of every file read, so an error can quote its line.
SOURCES: dict[str, str] = {}

# Characters never written raw to a terminal: C0 and C1 controls (but newline), DEL, the
# bidirectional and invisible format characters (Trojan Source), line and paragraph
# separators, the byte-order mark, and lone surrogates (bytes that were not UTF-8).
_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]"
)
MAX_SHOWN_LINE = 240  # characters of a source line an error shows around its caret


def escape_controls(text: str, newlines: bool = False) -> str:
    """Text safe to print: control and invisible characters as escapes (`\\x1b`, `\\u202e`).

    A lone surrogate (a byte of a non-UTF-8 file name or argument) shows as the byte, `\\xff`.
    Newlines are kept unless `newlines` is true.

    >>> escape_controls("a\x1b[2Jb\u202e")
    'a\\x1b[2Jb\\u202e'
    """

    def esc(m: re.Match[str]) -> str:
        c = ord(m.group())
        if 0xDC80 <= c <= 0xDCFF:
            return f"\\x{c - 0xDC00:02x}"
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    out = _UNSAFE.sub(esc, text)
    return out.replace("\n", "\\n") if newlines else out


def unsafe_character(text: str) -> str | None:
    """The first character of `text` that escape_controls would escape (or a newline), or None."""
    m = _UNSAFE.search(text)
    if m is None and "\n" in text:
        return "\n"
    return m.group() if m else None


def argument_error(what: str, text: str) -> SpecError | None:
    """A SpecError when a command-line text holds bytes that are not UTF-8 or a control character.

    `what` names the argument (`--set value`); the text itself is shown escaped.
    """
    ch = unsafe_character(text)
    if ch is None:
        return None
    if 0xDC80 <= ord(ch) <= 0xDCFF:
        return SpecError(f"{what} is not UTF-8 text: '{escape_controls(text, True)}'")
    return SpecError(
        f"{what} holds the control character U+{ord(ch):04X}: '{escape_controls(text, True)}'",
        hint="control and invisible characters are refused in specs and their arguments",
    )


def source_lines(text: str) -> list[str]:
    """A file's lines as the lexer counts them: split at `\\n` only, a `\\r` before it dropped.

    Not str.splitlines(), which also breaks at \\x0b, \\x0c, \\x1c-\\x1e, \\x85 and U+2028, so
    its line numbers would disagree with the lexer's.
    """
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


_LINES: dict[str, tuple[str, list[str]]] = {}


def source_line(file: str, line: int) -> str | None:
    """Line `line` (1-based) of a file read this session, as the lexer counts lines, or None."""
    text = SOURCES.get(file)
    if text is None:
        return None
    cached = _LINES.get(file)
    if cached is None or cached[0] is not text:
        cached = _LINES[file] = (text, source_lines(text))
    lines = cached[1]
    return lines[line - 1] if 0 < line <= len(lines) else None


class SpecError(Exception):
    """A user error in a spec, with where it happened and what to do."""

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        *,
        hint: str | None = None,
        path: str | None = None,
        notes: Iterable[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.path = path
        self.notes = list(notes)

    def with_path(self, path: str) -> SpecError:
        if self.path is None and path:
            self.path = path
        return self

    def render(self, color: bool = False) -> str:
        """Format as `file:line:col: error: ...`, the source line, a caret and a hint (ANSI colours if asked)."""
        return render_diagnostic("error", self.message, self.span, self.path, self.notes, self.hint, color)

    def __str__(self) -> str:
        return self.render()


def render_diagnostic(
    severity: str,
    message: str,
    span: Span | None,
    path: str | None = None,
    notes: Iterable[str] = (),
    hint: str | None = None,
    color: bool = False,
) -> str:
    """Format a diagnostic (an error, or a lint warning) with its source line and caret.

    With `color`, the severity and caret are red (error) or yellow (warning), the
    location and message bold, the gutter blue and the hint cyan, as rustc and ruff do.
    Every part that comes from the user (message, file name, source line, path, notes,
    hint) has its control characters escaped first, so only netspec's own colours reach
    the terminal.
    """
    paint = _paint if color else _plain
    tone = "31" if severity == "error" else "33"
    head = f"{paint(severity + ':', '1;' + tone)} {paint(escape_controls(message), '1')}"
    lines = []
    if span is None:
        lines.append(head)
    else:
        s = span
        where = f"{escape_controls(s.file, newlines=True)}:{s.line}:{s.col}:"
        lines.append(f"{paint(where, '1')} {head}")
        src = source_line(s.file, s.line)
        if src is not None:
            end = s.end_col if s.end_line == s.line else len(src) + 1
            shown, start, width = _excerpt(src.replace("\t", " "), s.col - 1, max(end - s.col, 1))
            gutter = " " * (len(str(s.line)) + 1)
            lines.append(f"{paint(f' {s.line} |', '34')} {shown}")
            lines.append(f"{paint(f'{gutter} |', '34')} {' ' * start}{paint('^' * width, tone)}")
    if path:
        lines.append(f"  {paint('at:', '2')} {escape_controls(path, newlines=True)}")
    lines.extend(f"{paint('note:', '1')} {escape_controls(n)}" for n in notes)
    if hint:
        lines.append(f"{paint('hint:', '1;36')} {escape_controls(hint)}")
    return "\n".join(lines)


def _excerpt(src: str, col: int, width: int) -> tuple[str, int, int]:
    """The part of a source line an error shows: escaped, at most about MAX_SHOWN_LINE characters
    around the caret (a minified 4 MiB line is not echoed whole); returns it, the caret's column
    in it, and the caret's width."""
    lo, hi = 0, len(src)
    if hi > MAX_SHOWN_LINE:
        lo = max(0, min(col - MAX_SHOWN_LINE // 3, hi - MAX_SHOWN_LINE))
        hi = lo + MAX_SHOWN_LINE
    head, mid = escape_controls(src[lo:col], True), escape_controls(src[col : col + width], True)
    shown = ("..." if lo else "") + head + escape_controls(src[col:hi], True) + ("..." if hi < len(src) else "")
    start = len(head) + (3 if lo else 0)
    return shown, start, max(1, min(len(mid), len(shown) - start))


def _paint(text: str, sgr: str) -> str:
    return f"\033[{sgr}m{text}\033[0m"


def _plain(text: str, sgr: str) -> str:
    return text


def use_color(stream: TextIO) -> bool:
    """Whether diagnostics written to `stream` get ANSI colours.

    NO_COLOR (any non-empty value, no-color.org) turns them off, then FORCE_COLOR turns them
    on (force-color.org); otherwise only a terminal that is not TERM=dumb gets them. The order
    is CPython's own (3.13's `_colorize`).
    """
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Return "did you mean 'x'?" for the closest choice, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
