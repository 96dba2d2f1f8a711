"""docs/language.md stays true: its op table is the registry's, its examples check."""

from __future__ import annotations

import re

from netspec import load_text
from netspec.docgen import DOC, render


def test_op_table_is_generated_from_the_registry() -> None:
    text = DOC.read_text()
    assert render(text) == text, "run: python -m netspec.docgen"


def test_first_example_checks() -> None:
    text = DOC.read_text()
    first = re.search(r"```\n(# resnet.net.*?)```", text, re.S)
    assert first is not None
    g = load_text(first.group(1), name="resnet18")
    assert g.params == 11_689_512
