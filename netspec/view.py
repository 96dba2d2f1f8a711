"""`netspec view SPEC`: the interactive diagram on localhost, redrawn each time the spec is saved.

    netspec view my.net                  # opens http://127.0.0.1:PORT/ in the browser
    netspec view unet --depth 1 --no-open

A thread watches the spec file and every file it imports (their modification
times, a few times a second) and reloads the spec when one changes. The page
(`compiler/to_html.py`, the same one `render -o net.html` writes) polls
`/state.json?version=N`, which answers the current version, the error text if
the spec no longer checks, and the page data when it is newer than N. A spec
with an error shows the located error (the SpecError as the command line prints
it) above the last good drawing.

Everything runs on the standard library: `http.server` bound to 127.0.0.1 on a
free port, threads, `webbrowser`. The page itself is built by the back end,
imported when a server starts (this module is imported by the command line).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import SpecError
from .graph import Graph
from .ops import Shape

POLL_SECONDS = 0.3


def load_watched(spec: str, input: Shape | None = None, **params: Any) -> tuple[Graph, set[Path]]:
    """Check a spec like `netspec.load`, and also return every file it read (itself and its imports).

    Raises SpecError; its `files` attribute then lists the files read before the error.
    """
    from .library import Loader, build, resolve

    path, name = resolve(spec)
    loader = Loader()
    try:
        loaded = loader.load(path)
        return build(loaded, name, params, tuple(input) if input is not None else None), _files(loader, path)
    except SpecError as err:
        files = _files(loader, path)
        if err.span is not None and Path(err.span.file).is_file():
            files.add(Path(err.span.file).resolve())
        err.files = files  # type: ignore[attr-defined]
        raise


def _files(loader: Any, root: Path) -> set[Path]:
    return {*loader.files, *loader.loading, root.resolve()}


class Watcher:
    """The current page data for a spec, reloaded when one of its files changes.

    `version` grows by one on every reload, good or bad; `data` is the last good
    page data (from version `data_version`) and `error` the rendered SpecError of
    the latest reload, if it failed.
    """

    def __init__(
        self,
        spec: str,
        input: Shape | None = None,
        params: dict[str, Any] | None = None,
        depth: int | str | None = None,
    ) -> None:
        from .library import resolve

        path, _ = resolve(spec)  # a name that is no file and no library network is an error now, not a page
        if not path.is_file():
            raise SpecError(f"no such spec file: {spec}", hint="netspec view watches an existing file")
        self.spec = spec
        self.input = input
        self.params = params or {}
        self.depth = depth
        self.lock = threading.Lock()
        self.version = 0
        self.data: dict[str, Any] | None = None
        self.data_version = 0  # the version that last changed `data`
        self.error: str | None = None
        self.files: set[Path] = set()
        self.stamps: dict[Path, tuple[int, int] | None] = {}
        self.reload()

    def reload(self) -> None:
        from netspec.compiler.to_html import page_data, resolve_depth

        try:
            graph, files = load_watched(self.spec, self.input, **self.params)
            data: dict[str, Any] | None = page_data(graph, resolve_depth(graph, self.depth))
            error = None
        except SpecError as err:
            files = getattr(err, "files", set())
            data, error = None, err.render()
        with self.lock:
            self.files |= files
            self.stamps = {f: _stamp(f) for f in self.files}
            self.version += 1
            if data is not None:
                self.data, self.data_version = data, self.version
            self.error = error

    def changed(self) -> bool:
        return any(_stamp(f) != s for f, s in self.stamps.items())

    def state(self, since: int | None = None) -> dict[str, Any]:
        """What `/state.json` answers: version, error, and the data unless the caller (at `since`) has it."""
        with self.lock:
            data = self.data if since is None or since < self.data_version else None
            return {"version": self.version, "error": self.error, "data": data}


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class ViewServer:
    """Serve a spec's page on 127.0.0.1 and keep it current; `with ViewServer("my.net") as s: s.url`."""

    def __init__(
        self,
        spec: str,
        input: Shape | None = None,
        params: dict[str, Any] | None = None,
        depth: int | str | None = None,
        rankdir: str = "TB",
        port: int = 0,
        interval: float = POLL_SECONDS,
    ) -> None:
        if rankdir not in ("TB", "LR"):
            raise SpecError(f"rankdir must be 'TB' or 'LR', got {rankdir!r}")
        self.watcher = Watcher(spec, input, params, depth)
        self.rankdir = rankdir
        self.interval = interval
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.httpd.daemon_threads = True
        self._stop = threading.Event()
        self.report: Callable[[Watcher], None] | None = None  # called after each reload
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def page(self) -> str:
        from netspec.compiler.to_html import page_html

        w = self.watcher
        with w.lock:
            data, error, version = w.data, w.error, w.version
        live = {"endpoint": "state.json", "version": version, "interval": 500}
        return page_html(data, self.rankdir, live=live, error=error)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            if self.watcher.changed():
                self.watcher.reload()
                if self.report is not None:
                    self.report(self.watcher)

    def start(self) -> ViewServer:
        for target in (self.httpd.serve_forever, self._watch):
            t = threading.Thread(target=target, name=f"netspec-view-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> ViewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(server: ViewServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urlsplit(self.path)
            if url.path in ("/", "/index.html"):
                self.reply(200, "text/html; charset=utf-8", server.page().encode("utf-8"))
            elif url.path == "/state.json":
                since = parse_qs(url.query).get("version", [""])[0]
                state = server.watcher.state(int(since) if since.isdigit() else None)
                self.reply(200, "application/json", json.dumps(state).encode("utf-8"))
            else:
                self.reply(404, "text/plain; charset=utf-8", b"not found\n")

        def reply(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a request per half second is not news

    return Handler


def _report(w: Watcher) -> None:
    if w.error:
        print(w.error, file=sys.stderr, flush=True)
    elif w.version > 1:
        print(f"netspec view: redrawn (version {w.version})", flush=True)


def view_cli(
    spec: str,
    input: Shape | None,
    params: dict[str, Any],
    depth: str | None,
    rankdir: str,
    port: int,
    open_browser: bool,
) -> int:
    """`netspec view SPEC [--depth N|full] [--rankdir TB|LR] [--port N] [--no-open]`: serve until Ctrl-C."""
    try:
        server = ViewServer(spec, input, params, depth, rankdir, port).start()
    except OSError as err:
        raise SpecError(
            f"cannot serve on 127.0.0.1:{port}: {err.strerror or err}",
            hint="pick another --port, or 0 for any free one",
        ) from None
    print(f"netspec view: {spec} at {server.url} (redrawn when its files change; Ctrl-C stops)", flush=True)
    server.report = _report
    _report(server.watcher)
    if open_browser:
        webbrowser.open(server.url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
