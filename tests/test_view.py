"""`netspec view`: the page on localhost follows the spec file and its imports as they are saved.

Edits are made the way an editor makes them (the file rewritten in place), then the
JSON endpoint the page polls, and the page itself in headless Chromium, are
watched until they change. A spec with an error shows the located error and
keeps the last good drawing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Chromium

from netspec.cli import main
from netspec.view import ViewServer, load_watched

BLOCKS = "block unit(c) { conv c k=3 p=1; relu }\n"
NET = """import "blocks.net"
network tiny() {
  input 3x32x32
  a: unit(8)
  b: unit(16)
}
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    (tmp_path / "blocks.net").write_text(BLOCKS)
    (tmp_path / "my.net").write_text(NET)
    return tmp_path / "my.net"


def save(path: Path, text: str) -> None:
    """Rewrite a file and make sure its mtime moves (some filesystems keep 1 s or coarser stamps)."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def get_state(server: ViewServer, since: int | None = None) -> dict[str, Any]:
    query = "" if since is None else f"?version={since}"
    with urllib.request.urlopen(server.url + "state.json" + query, timeout=10) as r:
        state: dict[str, Any] = json.load(r)
    return state


def wait_version(server: ViewServer, version: int, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = get_state(server, version - 1)
        if state["version"] >= version:
            return state
        assert time.monotonic() < deadline, f"no version {version} after {timeout}s"
        time.sleep(0.05)


def layer_paths(data: dict[str, Any]) -> list[str]:
    return sorted(it["path"] for it in data["items"].values() if it["kind"] == "layer")


@pytest.fixture
def server(spec: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ViewServer]:
    monkeypatch.chdir(spec.parent)
    with ViewServer("my.net", depth="full", interval=0.05) as s:
        yield s


def test_watches_the_spec_and_its_imports(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(spec.parent)
    graph, files = load_watched("my.net")
    assert graph.name == "tiny" and files == {spec.resolve(), (spec.parent / "blocks.net").resolve()}


def test_endpoint_follows_edits(server: ViewServer, spec: Path) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    first = get_state(server)
    assert first["version"] == 1 and first["error"] is None
    assert layer_paths(first["data"]) == ["a.0", "a.1", "b.0", "b.1"]
    assert get_state(server, 1)["data"] is None  # nothing new for a page that has version 1

    save(spec.parent / "blocks.net", "block unit(c) { conv c k=3 p=1; bn; relu }\n")  # an import changes
    state = wait_version(server, 2)
    assert state["error"] is None and layer_paths(state["data"]) == ["a.0", "a.1", "a.2", "b.0", "b.1", "b.2"]

    save(spec, NET.replace("b: unit(16)", "b: unit(16)\n  c: nosuchop 3"))  # an error: located, no new data
    state = wait_version(server, 3)
    assert state["error"].startswith("my.net:6:6: error:") and "'nosuchop'" in state["error"]
    assert " 6 |   c: nosuchop 3" in state["error"] and "^^^^^^^^" in state["error"]
    assert state["data"] is None
    assert layer_paths(get_state(server)["data"]) == ["a.0", "a.1", "a.2", "b.0", "b.1", "b.2"]  # the last good one

    save(spec, NET.replace("b: unit(16)", "b: unit(16)\n  c: unit(4)"))
    state = wait_version(server, 4)
    assert state["error"] is None and "c.0" in layer_paths(state["data"])

    with urllib.request.urlopen(server.url, timeout=10) as r:
        page = r.read().decode()
    assert page.startswith("<!DOCTYPE html>") and '"endpoint":"state.json","version":4' in page


def test_page_redraws_when_the_file_is_saved(server: ViewServer, spec: Path) -> None:
    with Chromium() as browser:
        page = browser.open(server.url)
        page.wait("document.body.dataset.ready === '1'")
        assert page.eval("netspecPage.boxes()") == 6  # input, 4 layers, output

        # Open state survives a redraw: close block 'a' first.
        page.eval("netspecPage.toggle('a')")
        assert page.eval("netspecPage.boxes()") == 5

        save(spec.parent / "blocks.net", "block unit(c) { conv c k=3 p=1; bn; relu }\n")
        page.wait("document.body.dataset.version === '2'")
        assert page.eval("netspecPage.boxes()") == 6  # input, a (closed), b's 3 layers, output
        assert page.eval("document.getElementById('error').hidden")

        save(spec, NET + "oops\n")
        page.wait("document.body.dataset.version === '3'")
        error = page.eval("document.getElementById('error').innerText")
        assert error.startswith("my.net:7:1: error:") and " 7 | oops" in error
        assert page.eval("netspecPage.boxes()") == 6  # the last good drawing stays

        save(spec, NET.replace("b: unit(16)", "b: unit(16)\n  c: unit(4)"))
        page.wait("document.body.dataset.version === '4'")
        assert page.eval("document.getElementById('error').hidden")
        assert page.eval("netspecPage.boxes()") == 9
        assert page.errors() == []


def test_a_spec_that_starts_broken_is_served(spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(spec.parent)
    save(spec, NET + "oops\n")
    with ViewServer("my.net", interval=0.05) as s:
        state = get_state(s)
        assert state["data"] is None and state["error"].startswith("my.net:7:1:")
        save(spec, NET)
        state = wait_version(s, 2)
        assert state["error"] is None and layer_paths(state["data"])


def test_cli(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["view", str(spec.parent / "nothere.net"), "--no-open"]) == 1
    assert "no such spec file" in capsys.readouterr().err
    assert main(["view", "resnet5O", "--no-open"]) == 1
    assert "did you mean 'resnet50'" in capsys.readouterr().err

    with subprocess.Popen([sys.executable, "-m", "netspec", "view", "my.net", "--no-open", "--depth", "0"],
                          cwd=spec.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}) as proc:
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline()
            assert line.startswith("netspec view: my.net at http://127.0.0.1:"), line
            url = line.split(" at ")[1].split()[0]
            with urllib.request.urlopen(url + "state.json", timeout=10) as r:
                assert json.load(r)["data"]["name"] == "tiny"
            save(spec, NET + "oops\n")
            assert proc.stderr.readline().startswith("my.net:7:1: error:")
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            assert proc.wait(timeout=10) == 0
