"""A normal (non-editable) wheel ships the spec library, its weights records, py.typed and the
licence, declares complete metadata, and finds its files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import netspec

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_and_finds_the_library(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("netspec-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(site)
    assert "netspec/_specs/resnet.net" in names and "netspec/grammar.lark" in names
    assert "netspec/_specs/weights.toml" in names and "netspec/py.typed" in names  # PEP 561: typed
    assert any(n.startswith("netspec/compiler/") for n in names)
    assert not any(n.startswith("compiler/") for n in names)  # no generic top-level package
    for asset in ("page.html", "page.js", "page.css", "vendor/cytoscape.min.js", "vendor/cytoscape-dagre.min.js",
                  "vendor/LICENSE-cytoscape", "vendor/LICENSE-cytoscape-dagre", "vendor/LICENSE-dagre"):
        assert f"netspec/compiler/html/{asset}" in names  # the interactive page's assets
    code = ("import netspec, netspec.library as L; assert '_specs' in str(L.library_dir()), L.library_dir(); "
            "print(netspec.load('resnet50').params); assert 'cytoscape' in netspec.render('resnet18').html(); "
            "from netspec.weights import find; print(find('resnet50', 'DEFAULT').tag); "
            "from pygments.lexers import get_lexer_by_name, get_lexer_for_filename; "
            "assert type(get_lexer_by_name('netspec')).__name__ == 'NetspecLexer'; "
            "assert get_lexer_for_filename('resnet.net').name == 'netspec'")  # the pygments.lexers entry point
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["25557032", "IMAGENET1K_V2"]

    info = f"netspec-{netspec.__version__}.dist-info"
    assert f"{info}/licenses/LICENSE" in names
    licence = (site / info / "licenses/LICENSE").read_text()
    assert licence.startswith("MIT License") and "Copyright (c) 2026 netspec contributors" in licence
    meta = Parser().parsestr((site / info / "METADATA").read_text())
    assert meta["Name"] == "netspec" and meta["Version"] == netspec.__version__
    assert meta["License-Expression"] == "MIT" and meta["Author"] == "netspec contributors"
    assert "pytorch" in meta["Keywords"] and meta["Requires-Python"] == ">=3.11"
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    requires = meta.get_all("Requires-Dist")
    assert "graphviz>=0.20" in requires  # render works after a plain `pip install netspec`
    assert not any(r.startswith("torch") and "extra" not in r for r in requires)  # torch stays optional
    assert "torch>=2.4; extra == 'torch'" in requires and "torchvision>=0.19; extra == 'torch'" in requires
    assert {"torch", "onnx", "test"} <= set(meta.get_all("Provides-Extra"))
    assert meta.get_payload().startswith("# netspec")  # the README is the long description
