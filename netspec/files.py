"""The only place netspec opens a user's files: specs in, outputs out.

    text = read_spec(Path("my.net"))                      # a regular UTF-8 file, at most 4 MiB
    roots = ImportRoots.around(Path("my.net"))            # where its imports may lead
    write_atomic(Path("out/model.py"), data, protect=graph.files)

Reading. A spec is read only from a regular file (never a device, pipe, folder or
special file such as /proc/self/mem), checked before the first byte is read, at
most MAX_FILE_BYTES long, and UTF-8 text without NUL bytes. Every failure is a
SpecError that names the file and the reason; none echoes the file's content.

Imports. An `import "x.net"` resolves to a `.net` file inside an allowed root: the
folder of the spec named on the command line (of the current folder for
`load_text`), the spec library, and any folder given with `--import-root DIR`
(`import_roots=` in Python). A path that leaves every root, by `..`, by being
absolute or through a symbolic link, is refused before it is opened.

Writing. An output is written whole or not at all: into a temporary file beside
it (a short name, so a long output name still fits in 255 bytes), then renamed
over it with os.replace; a failure removes the temporary file and leaves the old
output as it was. An output may not be a folder, sit in a folder that does not
exist, or be a file the command read as a spec (`compile x.net -o x.net`).
"""

from __future__ import annotations

import contextvars
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .ast import Span
from .errors import SpecError, escape_controls

MAX_FILE_BYTES = 4 << 20
MAX_SHOWN_PATH = 200

# --import-root folders given on the command line; Loaders made without roots of their own
# (the size prober's, `check --sizes`) read them from here.
EXTRA_ROOTS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("netspec_import_roots", default=())


def shown(path: str | os.PathLike[str]) -> str:
    """A path as messages show it: relative to the current folder when inside it, escaped, and
    at most about MAX_SHOWN_PATH characters (the middle elided)."""
    text = os.fspath(path)
    try:
        rel = os.path.relpath(text)
        if not rel.startswith(".."):
            text = rel
    except ValueError:
        pass
    text = escape_controls(text, newlines=True)
    if len(text) > MAX_SHOWN_PATH:
        half = MAX_SHOWN_PATH // 2 - 2
        text = f"{text[:half]}...{text[-half:]} ({len(text):,} characters)"
    return text


def as_path(spec: str | os.PathLike[str], what: str = "spec") -> str:
    """A spec or output argument as text: a str, or any os.PathLike (bytes paths decoded as the OS does)."""
    if isinstance(spec, os.PathLike):
        spec = os.fsdecode(os.fspath(spec))
    if not isinstance(spec, str):
        raise SpecError(f"{what} must be a str or a path, got {type(spec).__name__}")
    if not spec or "\x00" in spec:
        raise SpecError(f"{what} must be a non-empty path without NUL characters, got {escape_controls(spec)!r}")
    return spec


def _os_error(err: OSError, path: str | os.PathLike[str], doing: str, span: Span | None) -> SpecError:
    reason = err.strerror or type(err).__name__
    if err.errno == errno.ENOENT:
        return SpecError(f"no such spec file: {shown(path)}", span)
    if err.errno == errno.ELOOP:
        reason = "symbolic links loop"
    return SpecError(f"cannot {doing} {shown(path)}: {reason}", span)


def read_spec(path: Path, span: Span | None = None, limit: int = MAX_FILE_BYTES) -> str:
    """The text of a spec file; a SpecError at `span` unless it is a regular UTF-8 file of at most `limit` bytes.

    The file is opened without blocking (a FIFO cannot hang the reader) and checked
    with fstat on the open descriptor, so it cannot be swapped between check and read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise _os_error(err, path, "read", span) from None
    except ValueError:  # an embedded NUL
        raise SpecError(f"no such spec file: {shown(path)}", span) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise SpecError(f"{shown(path)} is a folder, not a spec file", span)
        if not stat.S_ISREG(st.st_mode):
            raise SpecError(
                f"{shown(path)} is not a regular file (a device, pipe or socket)",
                span,
                hint="specs are read from ordinary files",
            )
        if st.st_size > limit:
            raise SpecError(f"{shown(path)} is larger than {limit >> 20} MiB", span)
        chunks, size = [], 0
        while size <= limit:  # files in /proc report size 0: count what is read
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise SpecError(f"{shown(path)} is larger than {limit >> 20} MiB", span)
    except OSError as err:
        raise _os_error(err, path, "read", span) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if b"\x00" in data:
        raise SpecError(f"{shown(path)} is not a text file (it holds NUL bytes)", span)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise SpecError(
            f"{shown(path)} is not UTF-8 text (byte 0x{data[err.start]:02x} on line {line})", span
        ) from None


# ---------------------------------------------------------------- import roots


def real(path: str | os.PathLike[str]) -> Path:
    """The path with every symbolic link and `..` resolved (never raises for loops or long names)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass(frozen=True)
class ImportRoots:
    """The folders imports may read from (each resolved: no symbolic link, no `..`)."""

    roots: tuple[Path, ...]

    @classmethod
    def make(cls, *folders: str | os.PathLike[str] | None, extra: Iterable[str | os.PathLike[str]] = ()) -> ImportRoots:
        """Roots from folders (None skipped), the spec library and `extra` (--import-root, import_roots=)."""
        from .library import library_dir

        found: list[Path] = []
        for f in (*folders, library_dir(), *extra, *EXTRA_ROOTS.get()):
            if f is not None and real(f) not in found:
                found.append(real(f))
        return cls(tuple(found))

    def check(self, target: Path, span: Span | None, written: str) -> Path:
        """The real path of an import target, refused unless it is a `.net` file inside a root."""
        if not written.endswith(".net"):
            raise SpecError(f'import "{escape_controls(written)}": imports name .net files', span)
        path = real(target)
        if not any(_inside(path, root) for root in self.roots):
            raise SpecError(
                f'import "{escape_controls(written)}" leads outside the folders imports may read',
                span,
                hint="imports stay inside the folder of the spec named on the command line and the library; "
                "allow another folder with --import-root DIR (import_roots=[...] in Python)",
            )
        return path


@contextmanager
def extra_roots(folders: Iterable[str | os.PathLike[str]]) -> Iterator[None]:
    """Let every Loader made inside this block also import from `folders` (`--import-root`)."""
    token = EXTRA_ROOTS.set(tuple(real(as_path(f, "--import-root")) for f in folders))
    try:
        yield
    finally:
        EXTRA_ROOTS.reset(token)


def check_root(folder: str | os.PathLike[str]) -> Path:
    """An import root as given: an existing folder."""
    path = real(as_path(folder, "an import root"))
    if not path.is_dir():
        raise SpecError(f"import root {shown(folder)} is not a folder")
    return path


# ---------------------------------------------------------------- outputs


def check_output(path: str | os.PathLike[str], protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """An output path that may be written: not a folder, in an existing folder, not a spec that was read.

    Raises SpecError with a hint otherwise; returns the path.
    """
    out = Path(as_path(path, "the output"))
    name = os.fsencode(out.name)
    if len(name) > 255:
        raise SpecError(f"the output name is too long: {shown(out)}", hint="file names have at most 255 bytes")
    try:
        if out.is_dir():
            raise SpecError(
                f"the output {shown(out)} is a folder", hint=f"name a file in it, e.g. {shown(out / 'model.py')}"
            )
        parent = out.parent
        if not parent.is_dir():
            what = "is not a folder" if parent.exists() else "does not exist"
            raise SpecError(
                f"cannot write {shown(out)}: the folder {shown(parent)} {what}", hint="create the folder first"
            )
        st = os.lstat(out) if os.path.lexists(out) else None
        if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            raise SpecError(
                f"the output {shown(out)} is not a regular file (a device, pipe or socket)",
                hint="name an ordinary file; it is replaced whole",
            )
        if out.exists():
            for p in protect:
                try:
                    same = os.path.samefile(out, p)
                except (OSError, ValueError):
                    same = False
                if same:
                    raise SpecError(
                        f"the output {shown(out)} is the spec {shown(p)}: writing it would overwrite the spec",
                        hint="choose another output name",
                    )
    except OSError as err:
        raise _os_error(err, out, "write", None) from None
    return out


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | Callable[[IO[bytes]], None],
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write bytes (or whatever `data(file)` writes) to `path` whole or not at all.

    The output is checked first (check_output). The temporary file is `.netspec-<random>.tmp`
    beside the output, created exclusively with the usual mode (the umask, or the mode of
    the file it replaces), flushed to disk and renamed over the output.
    """
    out = check_output(path, protect)
    mode = 0o666
    try:
        mode = stat.S_IMODE(os.stat(out).st_mode)
    except OSError:
        pass
    tmp = out.parent / f".netspec-{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as err:
        raise _os_error(err, out, "write", None) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        if mode != 0o666:
            os.chmod(tmp, mode)
        os.replace(tmp, out)
    except OSError as err:
        _discard(tmp)
        raise _os_error(err, out, "write", None) from None
    except BaseException:
        _discard(tmp)
        raise
    return out


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink()
    except OSError:
        pass
