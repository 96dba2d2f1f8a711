"""A normal (non-editable) wheel ships the spec library and finds it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

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
    assert any(n.startswith("netspec/compiler/") for n in names)
    assert not any(n.startswith("compiler/") for n in names)  # no generic top-level package
    for asset in ("page.html", "page.js", "page.css", "vendor/cytoscape.min.js", "vendor/cytoscape-dagre.min.js",
                  "vendor/LICENSE-cytoscape", "vendor/LICENSE-cytoscape-dagre", "vendor/LICENSE-dagre"):
        assert f"netspec/compiler/html/{asset}" in names  # the interactive page's assets
    code = ("import netspec, netspec.library as L; assert '_specs' in str(L.library_dir()), L.library_dir(); "
            "print(netspec.load('resnet50').params); assert 'cytoscape' in netspec.render('resnet18').html()")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                         cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "25557032"
