"""SpecError: every mistake a user can make, rendered like a compiler error.

specs/resnet.net:12:5: error: unknown op 'bachnorm'
   12 |     bachnorm
      |     ^^^^^^^^
  at: layer1.0
hint: did you mean 'batchnorm'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

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

    def render(self) -> str:
        """Format as `file:line:col: error: ...`, the source line, a caret and a hint."""
        return render_diagnostic("error", self.message, self.span, self.path, self.notes, self.hint)

    def __str__(self) -> str:
        return self.render()


def render_diagnostic(
    severity: str,
    message: str,
    span: Span | None,
    path: str | None = None,
    notes: Iterable[str] = (),
    hint: str | None = None,
) -> str:
    """Format a diagnostic (an error, or a lint warning) with its source line and caret."""
    lines = []
    if span is None:
        lines.append(f"{severity}: {message}")
    else:
        s = span
        lines.append(f"{s.file}:{s.line}:{s.col}: {severity}: {message}")
        text = SOURCES.get(s.file)
        if text is not None:
            src_lines = text.splitlines()
            if 0 < s.line <= len(src_lines):
                src = src_lines[s.line - 1].replace("\t", " ")
                width = s.end_col - s.col if s.end_line == s.line else len(src) - s.col + 1
                gutter = " " * (len(str(s.line)) + 1)
                lines.append(f" {s.line} | {src}")
                lines.append(f"{gutter} | {' ' * (s.col - 1)}{'^' * max(1, width)}")
    if path:
        lines.append(f"  at: {path}")
    lines.extend(f"note: {n}" for n in notes)
    if hint:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """Return "did you mean 'x'?" for the closest choice, or None."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
