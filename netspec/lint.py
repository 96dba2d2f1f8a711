"""Lint a checked graph: specs that are legal but probably not what was meant.

    specs/gan.net:9:10: warning: conv_transpose kernel 3 is not a multiple of its stride 2 [checkerboard]
        9 |   up1: conv_transpose 64 k=3 s=2 p=1 op=1
          |        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
      at: up1
    hint: use a kernel divisible by the stride (k=4 s=2), or upsample then conv

Each warning has a code. A comment `# netspec: ignore[code]` (several codes
comma-separated; a bare `# netspec: ignore` silences all) on the flagged line,
on the line of an enclosing block call or named sequence, or on the `network`
line silences it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .ast import Span
from .errors import render_diagnostic, source_line
from .graph import Graph, Node
from .ops.base import Family, pair
from .ops.conv import ConvTranspose

CODES = ("checkerboard", "conv-bias-bn", "linear-map", "plain-chain")
PLAIN_CHAIN_LIMIT = 20

_IGNORE = re.compile(r"#\s*netspec:\s*ignore(?:\[([^\]]*)\])?")


@dataclass
class LintWarning:
    """One finding: a code, what is wrong, where, and what to do."""

    code: str
    message: str
    span: Span | None
    path: str | None = None
    hint: str | None = None
    notes: list[str] = field(default_factory=list)

    def render(self, color: bool = False) -> str:
        """Format as `file:line:col: warning: ... [code]` with the source line and a caret."""
        return render_diagnostic(
            "warning", f"{self.message} [{self.code}]", self.span, self.path, self.notes, self.hint, color
        )

    def __str__(self) -> str:
        return self.render()


def lint(graph: Graph) -> list[LintWarning]:
    """All warnings for a graph that no `# netspec: ignore` comment silences, in source order."""
    found = [*_checkerboard(graph), *_conv_bias_bn(graph), *_linear_map(graph), *_plain_chain(graph)]
    comments = _Comments()
    kept = _dedupe([w for w in found if not _silenced(graph, w, comments)])
    return sorted(kept, key=lambda w: (w.span.file, w.span.line, w.span.col) if w.span else ("", 0, 0))


# ---------------------------------------------------------------- rules


def _checkerboard(graph: Graph) -> list[LintWarning]:
    """Transposed convs whose kernel the stride does not divide overlap unevenly (Odena et al. 2016)."""
    out = []
    for n in graph.layers():
        if not isinstance(n.op, ConvTranspose):
            continue
        k, s = pair(n.op.kernel), pair(n.op.stride)
        if k[0] % s[0] or k[1] % s[1]:
            kt = str(k[0]) if k[0] == k[1] else f"{k[0]}x{k[1]}"
            st = str(s[0]) if s[0] == s[1] else f"{s[0]}x{s[1]}"
            out.append(
                LintWarning(
                    "checkerboard",
                    f"conv_transpose kernel {kt} is not a multiple of its stride {st}",
                    n.span,
                    n.id,
                    hint="uneven overlap paints checkerboard artifacts; use a kernel divisible by the stride "
                    "(k=4 s=2), or upsample then conv",
                )
            )
    return out


def _conv_bias_bn(graph: Graph) -> list[LintWarning]:
    """A conv bias that feeds only batch norms is removed again by their mean subtraction.

    Convs are the ops of family CONV with `bias=true`; the norms are those that declare
    `absorbs_bias` (bn).
    """
    consumers = graph.consumers()
    outputs = set(graph.outputs.values())
    out = []
    for n in graph.layers():
        if not _is_conv(n) or getattr(n.op, "bias", False) is not True:
            continue
        users = consumers[n.id]
        if users and n.id not in outputs and all(graph.nodes[u].op.absorbs_bias for u in users):
            norms = " and ".join(sorted({graph.nodes[u].kind for u in users}))
            out.append(
                LintWarning(
                    "conv-bias-bn",
                    f"{n.kind} has a bias but {norms} follows",
                    n.span,
                    n.id,
                    hint=f"{norms} subtracts the per-channel mean, bias included; "
                    "write bias=false (the norm's own shift replaces it)",
                )
            )
    return out


def _linear_map(graph: Graph) -> list[LintWarning]:
    """A linear layer (family LINEAR) on a (C,H,W) map mixes only the last dim, the width, as torch does.

    That is legal (nn.Linear acts on the last dim of any input) but a classifier head
    nearly always meant to flatten or pool first.
    """
    out = []
    for n in graph.layers():
        if n.op.family is not Family.LINEAR or not n.inputs:
            continue
        shape = graph.nodes[n.inputs[0]].shape
        if len(shape) == 3:
            out.append(
                LintWarning(
                    "linear-map",
                    f"{n.kind} on the (N,{shape[0]},{shape[1]},{shape[2]}) map acts on its last dim (width) only",
                    n.span,
                    n.id,
                    hint="add 'flatten' (or a global pool then 'flatten') before it; if the width is meant, "
                    "say so with '# netspec: ignore[linear-map]'",
                )
            )
    return out


def _plain_chain(graph: Graph) -> list[LintWarning]:
    """Flag the 21st convolution of a chain that no skip connection interrupts.

    Convolutions are counted along every path from the input; a merge (add, mul,
    concat: where a shortcut or a branch joins) ends the chain, so residual,
    squeeze-excitation, inception and dense blocks all keep it short. Only plain
    stacks grow long, and deeper plain nets train to a higher error than shallower
    ones (He et al. 2016, the degradation problem).
    """
    depth: dict[str, int] = {}
    start: dict[str, str] = {}  # the first conv of the chain reaching each node
    for n in graph.nodes.values():
        data = [x for i, x in enumerate(n.inputs) if i not in n.op.size_only_inputs]
        if len(data) != 1:
            depth[n.id] = 0
            continue
        src = data[0]
        is_conv = _is_conv(n)
        depth[n.id] = depth[src] + is_conv
        start[n.id] = start[src] if depth[src] else n.id
        if is_conv and depth[n.id] == PLAIN_CHAIN_LIMIT + 1:
            first = graph.nodes[start[n.id]]
            return [
                LintWarning(
                    "plain-chain",
                    f"{PLAIN_CHAIN_LIMIT + 1} convolutions in a row with no skip connection",
                    n.span,
                    n.id,
                    notes=[f"the chain starts at '{first.id}' (line {first.span.line})"],
                    hint="deep plain stacks train worse than shallower ones (the degradation problem); "
                    "add shortcuts with 'residual { ... }'",
                )
            ]
    return []


# ---------------------------------------------------------------- helpers


def _is_conv(n: Node) -> bool:
    """A convolution of any kind (conv, conv_transpose, deform_conv, a plugin's): family CONV."""
    return n.op.family is Family.CONV


def _dedupe(found: list[LintWarning]) -> list[LintWarning]:
    """One warning per code and source position (a block's line is flagged once, not per use)."""
    first: dict[tuple[str, Span | None], LintWarning] = {}
    count: dict[tuple[str, Span | None], int] = {}
    for w in found:
        key = (w.code, w.span)
        first.setdefault(key, w)
        count[key] = count.get(key, 0) + 1
    for key, w in first.items():
        if count[key] > 1:
            w.notes.append(f"and {count[key] - 1} more uses of this line")
    return list(first.values())


def _silenced(graph: Graph, w: LintWarning, comments: _Comments) -> bool:
    """Whether an ignore comment on the flagged line, an enclosing scope's line or the network line covers w."""
    spans = [w.span]
    scopes = graph.enclosing_scopes(w.path) if w.path else [""]
    spans += [graph.scopes[p].span for p in scopes if p in graph.scopes]
    return any(w.code in comments.ignored(s) for s in spans if s is not None)


class _Comments:
    """The ignore comments of the source files, each line read once (through errors.source_line,
    which splits each file once, at `\\n` as the lexer does).

    A loop body's layer is flagged once per iteration; reading the file again for each
    of 100,000 warnings would make linting quadratic in the file size.
    """

    def __init__(self) -> None:
        self._codes: dict[tuple[str, int], frozenset[str]] = {}

    def ignored(self, span: Span) -> frozenset[str]:
        """Codes an ignore comment on the span's first line names (all codes for a bare ignore)."""
        key = (span.file, span.line)
        codes = self._codes.get(key)
        if codes is None:
            codes = self._codes[key] = self._read(span)
        return codes

    def _read(self, span: Span) -> frozenset[str]:
        line = source_line(span.file, span.line)
        if line is None:
            return frozenset()
        found: set[str] = set()
        for m in _IGNORE.finditer(comment(line)):  # a `# netspec: ignore` inside a string does not count
            found |= set(CODES) if m.group(1) is None else {c.strip() for c in m.group(1).split(",")}
        return frozenset(found)


def comment(line: str) -> str:
    """The comment on a spec line, from its `#` to the end, or "": a `#` inside a string is text.

    >>> comment('x: b(tag="# netspec: ignore") # real')
    '# real'
    """
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[i:]
    return ""


__all__ = ["CODES", "LintWarning", "lint"]
