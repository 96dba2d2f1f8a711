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
from collections.abc import Iterable
from typing import TextIO

from .ast import Span

# Source text of every file read, so an error can quote its line.
SOURCES: dict[str, str] = {}


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
    """
    paint = _paint if color else _plain
    tone = "31" if severity == "error" else "33"
    head = f"{paint(severity + ':', '1;' + tone)} {paint(message, '1')}"
    lines = []
    if span is None:
        lines.append(head)
    else:
        s = span
        lines.append(f"{paint(f'{s.file}:{s.line}:{s.col}:', '1')} {head}")
        text = SOURCES.get(s.file)
        if text is not None:
            src_lines = text.splitlines()
            if 0 < s.line <= len(src_lines):
                src = src_lines[s.line - 1].replace("\t", " ")
                width = s.end_col - s.col if s.end_line == s.line else len(src) - s.col + 1
                gutter = " " * (len(str(s.line)) + 1)
                lines.append(f"{paint(f' {s.line} |', '34')} {src}")
                lines.append(f"{paint(f'{gutter} |', '34')} {' ' * (s.col - 1)}{paint('^' * max(1, width), tone)}")
    if path:
        lines.append(f"  {paint('at:', '2')} {path}")
    lines.extend(f"{paint('note:', '1')} {n}" for n in notes)
    if hint:
        lines.append(f"{paint('hint:', '1;36')} {hint}")
    return "\n".join(lines)


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
