"""Hostile specs, everything outside the evaluator: files, paths, outputs, terminals, the API.

Each test is an attack that once printed a traceback, misread a spec, disclosed a file or
left a broken output behind. Each now gives a located error (or a clear one for a path or
an option) and an exit code, and never a Python traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import netspec
from netspec.cli import main
from netspec.errors import SpecError

NET = "network n() {\n  input 3x8x8\n  conv 4\n}\n"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command line in-process; return its exit code, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# ---------------------------------------------------------------- the lexer


def test_a_keyword_never_matches_inside_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "t.net", "network n() {\n  input 3x8x8\n  output training_: conv 4\n  trainer: conv 4\n}\n")
    code, out, _ = cli(capsys, "check", str(spec))
    assert code == 0 and "training_ (N,4,8,8)" in out and " ing" not in out
    g = netspec.load_text("network n() {\n  input 3x8x8\n  x: conv 4\n  output train aux: conv 2\n  @x -> relu\n}\n")
    assert g.train_outputs == {"aux"}


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("conv \u0663", "ASCII digits"),  # ARABIC-INDIC DIGIT THREE
        ("conv \uff13", "ASCII digits"),  # FULLWIDTH DIGIT THREE
        ("n\uff4e: conv 4", "ASCII letters"),  # `nｎ` folds to `nn` in Python (NFKC)
    ],
)
def test_names_and_numbers_are_ascii(text: str, hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SpecError) as e:
        netspec.load_text(f"network n() {{\n  input 3x8x8\n  {text}\n}}\n")
    assert e.value.span is not None and e.value.span.line == 3
    assert hint in (e.value.hint or "")


def test_a_block_parameter_cannot_fold_into_a_generated_name() -> None:
    with pytest.raises(SpecError) as e:
        netspec.load_text("block b(n\uff4e) { conv n\uff4e }\nnetwork n() {\n  input 3x8x8\n  b(4)\n}\n")
    assert e.value.span is not None and (e.value.span.line, e.value.span.col) == (1, 10)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "bom.net", b"\xef\xbb\xbf" + NET.encode())
    code, out, _ = cli(capsys, "check", str(spec))
    assert code == 0 and out.startswith("ok: n:")
    bad = write(tmp_path / "bom2.net", b"\xef\xbb\xbf" + NET.replace("conv 4", "conv x").encode())
    code, _, err = cli(capsys, "check", str(bad))
    assert code == 1 and ":3:8: error:" in err  # columns count from after the mark


# ---------------------------------------------------------------- Trojan source and terminals

TROJANS = ["\u202e", "\u2066", "\u2069", "\u200b", "\u200f", "\u2028", "\u2029", "\ufeff", "\x1b", "\x85", "\x7f"]


@pytest.mark.parametrize("char", TROJANS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("where", ["string", "comment", "name"])
def test_control_and_bidi_characters_are_located_errors(
    char: str, where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = {
        "string": f'  upsample 2 mode="bi{char}linear"',
        "comment": f"  conv 4  # admin{char} only",
        "name": f"  co{char}nv 4",
    }[where]
    spec = write(tmp_path / "t.net", f"network n() {{\n  input 3x8x8\n{line}\n}}\n")
    code, _, err = cli(capsys, "check", str(spec))
    col = line.index(char) + 1
    assert code == 1 and f"t.net:3:{col}: error: " in err and f"U+{ord(char):04X}" in err
    assert char not in err  # shown escaped
    assert not any(c in err for c in "\x1b\x85\x00\u202e\u2066")


def test_control_characters_never_reach_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "evil\x1b[2J\x07.net"
    spec = write(tmp_path / name, NET.replace("conv 4", "conv x"))
    code, _, err = cli(capsys, "check", str(spec))
    assert code == 1 and "evil\\x1b[2J\\x07.net:3:8: error:" in err and "\x1b" not in err
    code, _, err = cli(capsys, "check", str(tmp_path / "a\x1b]0;title\x07.net"))
    assert code == 1 and "\x1b" not in err and "\x07" not in err and "\\x1b]0;title" in err


def test_set_values_with_control_characters_or_bad_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "s.net", 'network n(tag="") {\n  input 3x8x8\n  conv 4\n}\n')
    for value in ("\x1b[31mred", "\udcff\udcfe", "a\u202eb", "x\ny"):
        code, _, err = cli(capsys, "check", str(spec), "--set", f"tag={value}")
        assert code == 1 and "--set" in err and "\x1b" not in err and "\u202e" not in err
        assert err.isprintable() or set(err) - set(err.replace("\n", "")) == {"\n"}


def test_lines_are_counted_as_the_lexer_counts_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A form feed is blank space to the lexer but a line break to str.splitlines().
    spec = write(tmp_path / "ff.net", "network n() {  # page\x0cbreak\n  input 3x8x8\n  conv x\n}\n")
    code, _, err = cli(capsys, "check", str(spec))
    assert code == 1 and "ff.net:3:8:" in err and " 3 |   conv x" in err


def test_a_long_line_is_shown_around_the_caret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "long.net", "let pad = [" + "1, " * 20000 + "oops]\n" + NET)
    code, _, err = cli(capsys, "check", str(spec))
    src, caret = err.splitlines()[1:3]
    assert code == 1 and len(src) < 300 and src.startswith(" 1 | ...")
    start = caret.index("^")
    assert src[start : start + 4] == "oops"


def test_an_ignore_comment_inside_a_string_does_not_count() -> None:
    text = (
        'block b(c, tag="") { conv c k=3 p=1 }\n'
        "network n() {\n  input 3x8x8\n"
        '  up: conv_transpose 4 k=3 s=2 p=1 op=1 -> b(4, tag="# netspec: ignore")\n}\n'
    )
    assert [w.code for w in netspec.load_text(text).warnings] == ["checkerboard"]
    quiet = text.replace('ignore")', 'ignore")  # netspec: ignore[checkerboard]')
    assert netspec.load_text(quiet).warnings == []


# ---------------------------------------------------------------- reading specs


def test_special_files_are_refused_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.net"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    cases = [(str(fifo), "not a regular file"), ("/dev/zero", "not a regular file"), (str(tmp_path), "is a folder")]
    if Path("/proc/self/mem").exists():
        cases.append(("/proc/self/mem", "cannot read"))
    for spec, message in cases:
        code, _, err = cli(capsys, "check", spec)
        assert code == 1 and err.startswith("error: ") and message in err, (spec, err)


def test_a_symlink_loop_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.net").symlink_to(tmp_path / "b.net")
    (tmp_path / "b.net").symlink_to(tmp_path / "a.net")
    code, _, err = cli(capsys, "check", str(tmp_path / "a.net"))
    assert code == 1 and "symbolic links loop" in err


def test_over_long_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = "x" * 300 + ".net"
    code, _, err = cli(capsys, "check", str(tmp_path / long))
    assert code == 1 and "File name too long" in err and len(err) < 600  # the path is shown shortened
    deep = "/".join(["d" * 200] * 30) + ".net"
    code, _, err = cli(capsys, "check", str(tmp_path / deep))
    assert code == 1 and err.startswith("error: ")
    spec = write(tmp_path / "imp.net", f'import "{long}"\n' + NET)
    code, _, err = cli(capsys, "check", str(spec))
    assert code == 1 and "imp.net:1:1: error: " in err and "too long" in err


def test_file_size_is_limited_before_reading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.net"
    with open(big, "wb") as f:
        f.truncate((4 << 20) + 1)  # sparse: nothing is written, the size alone is refused
    code, _, err = cli(capsys, "check", str(big))
    assert code == 1 and "larger than 4 MiB" in err


def test_binary_and_non_utf8_files_are_not_echoed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = b"SECRET=hunter2"
    for name, data, message in [
        ("nul.net", secret + b"\x00OTHER=1\x00", "not a text file"),
        ("latin.net", secret + b"\xff\xfe\n", "not UTF-8 text"),
    ]:
        code, _, err = cli(capsys, "check", str(write(tmp_path / name, data)))
        assert code == 1 and message in err and "hunter2" not in err


# ---------------------------------------------------------------- imports stay inside their roots


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """proj/main.net imports blocks.net; a secret lies outside proj/."""
    proj = tmp_path / "proj"
    proj.mkdir()
    write(proj / "blocks.net", "block cbr(c) { conv c k=3 p=1; relu }\n")
    write(tmp_path / "secret.net", "block leak(c) { conv c }\n# TOKEN=hunter2\n")
    write(tmp_path / "secret.txt", "TOKEN=hunter2\n")
    return proj


@pytest.mark.parametrize(
    "target",
    ["../secret.net", "{tmp}/secret.net", "/proc/self/environ", "/etc/passwd", "../secret.txt", "sub/../../secret.net"],
)
def test_imports_cannot_leave_the_spec_folder(target: str, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = target.format(tmp=project.parent)
    spec = write(project / "main.net", f'import "{target}"\n' + NET)
    code, _, err = cli(capsys, "check", str(spec))
    assert code == 1 and "main.net:1:1: error: import" in err
    assert "hunter2" not in err and "PATH=" not in err and "root:" not in err


def test_imports_through_a_symlink_that_leaves_the_root(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "link.net").symlink_to(project.parent / "secret.net")
    (project / "dev.net").symlink_to("/dev/zero")
    for name in ("link.net", "dev.net"):
        spec = write(project / "main.net", f'import "{name}"\n' + NET)
        code, _, err = cli(capsys, "check", str(spec))
        assert code == 1 and "leads outside the folders imports may read" in err


def test_an_import_root_allows_another_folder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(project / "main.net", 'import "../secret.net"\nnetwork n() {\n  input 3x8x8\n  leak(4)\n}\n')
    assert cli(capsys, "check", str(spec))[0] == 1
    code, out, _ = cli(capsys, "check", str(spec), "--import-root", str(project.parent))
    assert code == 0 and out.startswith("ok: n")
    with pytest.raises(SpecError, match="leads outside"):
        netspec.load(spec)
    assert netspec.load(spec, import_roots=[project.parent]).name == "n"
    code, _, err = cli(capsys, "check", str(spec), "--import-root", str(project / "missing"))
    assert code == 1 and "is not a folder" in err


def test_imports_inside_the_root_still_work(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "sub").mkdir()
    write(project / "sub" / "more.net", 'import "../blocks.net"\nblock two(c) { cbr(c); cbr(c) }\n')
    spec = write(
        project / "main.net", 'import "sub/more.net"\nimport common\nnetwork n() {\n  input 3x8x8\n  two(4)\n}\n'
    )
    code, out, _ = cli(capsys, "check", str(spec))
    assert code == 0 and out.startswith("ok: n") and "4 layers" in out


def test_an_import_must_name_a_regular_spec_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(project / "fifo.net")
    write(project / "notes.txt", "hello\n")
    for target, message in [("fifo.net", "not a regular file"), ("notes.txt", "imports name .net files")]:
        spec = write(project / "main.net", f'import "{target}"\n' + NET)
        code, _, err = cli(capsys, "check", str(spec))
        assert code == 1 and message in err and "main.net:1:1:" in err


def test_load_text_imports_stay_in_the_current_folder(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    g = netspec.load_text('import "blocks.net"\nnetwork n() {\n  input 3x8x8\n  cbr(4)\n}\n')
    assert g.name == "n"
    with pytest.raises(SpecError, match="leads outside"):
        netspec.load_text('import "../secret.net"\n' + NET)


def test_an_imported_file_may_not_redefine_an_op(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(project / "evil.net", "block relu(c) { conv c }\n")
    spec = write(project / "main.net", 'import "evil.net"\nnetwork n() {\n  input 3x8x8\n  relu\n}\n')
    code, _, err = cli(capsys, "check", str(spec))
    assert code == 1 and "evil.net:1:1: error: block 'relu' has the name of the op 'relu'" in err


# ---------------------------------------------------------------- what a bare word names


def test_a_bare_word_names_the_library_not_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "resnet18", NET)  # a file in the current folder does not replace the library network
    assert netspec.load("resnet18").name == "resnet18"
    assert netspec.load("./resnet18").name == "n"
    write(tmp_path / "mine", NET)
    with pytest.raises(SpecError) as e:
        netspec.load("mine")
    assert "./mine" in (e.value.hint or "")
    assert netspec.load(tmp_path / "mine").name == "n"  # a Path is always a file


# ---------------------------------------------------------------- the Python API checks what the CLI checks


@pytest.mark.parametrize(
    "shape",
    [(3, 8.5, 8), (3, 10**5000, 8), (3, 0, 8), (True, 8, 8), (3, 8), "3x8x8", (3, 1 << 17, 8), [3, -8, 8]],
    ids=["float", "bigint", "zero", "bool", "two", "text", "huge", "negative"],
)
def test_api_input_is_checked(shape: object) -> None:
    with pytest.raises(SpecError, match="input shape") as e:  # as the evaluator checks --input, located
        netspec.load("resnet18", input=shape)  # type: ignore[arg-type]
    too_long_to_print = isinstance(shape, tuple) and shape[1] == 10**5000  # refused before the evaluator quotes it
    assert (e.value.span is None) == too_long_to_print
    assert len(e.value.render()) < 400


@pytest.mark.parametrize(
    "value",
    [10**5000, float("nan"), float("inf"), "x" * 20_000, "a\x1bb", object(), [[[1]] * 10] * 20_000],
    ids=["bigint", "nan", "inf", "longstr", "control", "object", "biglist"],
)
def test_api_parameter_values_are_checked(value: object) -> None:
    with pytest.raises(SpecError) as e:  # the evaluator's checks, as for --set, located
        netspec.load("resnet18", num_classes=value)
    assert e.value.span is not None


def test_loader_options_and_network_parameters_never_collide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write(
        tmp_path / "p.net", "network p(input=4, limits=2, spec=1, params=3) {\n  input 3x8x8\n  conv input\n}\n"
    )
    code, out, _ = cli(capsys, "check", str(spec), "--set", "input=6", "--set", "spec=2", "--set", "limits=1")
    assert code == 0 and "(N,6,8,8)" in out
    g = netspec.load(spec, input=(3, 16, 16), params={"input": 5, "params": 1})
    assert g.output_shapes()["out"] == (5, 16, 16)
    with pytest.raises(SpecError, match="given twice"):
        netspec.load(spec, params={"spec": 1}, spec=2)
    with pytest.raises(SpecError, match="not a network parameter name"):
        netspec.load(spec, params={"not a name": 1})
    assert netspec.load("resnet18", num_classes=10).output_shapes()["out"] == (10,)


def test_paths_are_accepted_everywhere(tmp_path: Path) -> None:
    spec = write(tmp_path / "p.net", NET)
    assert netspec.load(spec).name == "n"
    assert netspec.load(str(spec)).name == "n"
    d = netspec.render(spec, depth="full")
    out = d.save(tmp_path / "p.dot")
    assert out.read_text().startswith("digraph n")


def test_an_alias_cycle_from_the_api() -> None:
    text = "network a = b()\nnetwork b = a()\nnetwork c = c()\n"
    for name in ("a", "c"):
        with pytest.raises(SpecError, match="alias cycle"):
            netspec.load_text(text, name)


# ---------------------------------------------------------------- names compile would refuse


@pytest.mark.parametrize("name", ["forward", "training", "state_dict", "to", "cuda", "__init__", "_modules"])
def test_names_torch_modules_own_fail_check(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "r.net", f"network n() {{\n  input 3x8x8\n  {name}: conv 4\n}}\n")
    code, _, err = cli(capsys, "check", str(spec))
    assert code == 1 and "r.net:3:" in err and "taken by torch.nn.Module" in err
    block = write(
        tmp_path / "b.net", f"block b(c) {{ {name}: conv c }}\nnetwork n() {{\n  input 3x8x8\n  x: b(4)\n}}\n"
    )
    code, _, err = cli(capsys, "check", str(block))
    assert code == 1 and "b.net:1:" in err and f"at: x.{name}" in err


def test_a_name_with_a_trailing_newline_is_refused() -> None:
    from netspec.names import check_part

    assert check_part("conv1") is None
    assert check_part("conv1\n") is not None and check_part("a.b") is not None
    text = 'network n(s="x") {\n  input 3x8x8\n  "l{s}": conv 4\n}\n'
    with pytest.raises(SpecError, match="name") as e:
        netspec.load_text(text, params={"s": "a\n"})
    assert e.value.span is not None and e.value.span.line == 3


@pytest.mark.torch
def test_the_static_name_list_covers_torch() -> None:
    from torch import nn

    from netspec.names import MODULE_ATTRIBUTES

    for module in (nn.Module(), nn.Sequential()):
        missing = {n for n in dir(module) if not n.startswith("__")} - MODULE_ATTRIBUTES
        missing |= set(vars(module)) - MODULE_ATTRIBUTES
        assert not missing, f"add to netspec/names.py: {sorted(missing)}"


# ---------------------------------------------------------------- outputs: whole or not at all


class _DiskFull:
    """A file object that takes half of the first write, then fails as a full disk does."""

    def __init__(self, f: object) -> None:
        self.f = f
        self.written = 0

    def __enter__(self) -> _DiskFull:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()  # type: ignore[attr-defined]

    def write(self, data: bytes) -> int:
        self.f.write(data[: len(data) // 2])  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> object:
        return getattr(self.f, name)


def _fail_midway(monkeypatch: pytest.MonkeyPatch) -> None:
    real_fdopen = os.fdopen
    monkeypatch.setattr("netspec.files.os.fdopen", lambda fd, *a, **k: _DiskFull(real_fdopen(fd, *a, **k)))


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("suffix", ["dot", "svg", "html"])
def test_a_failed_diagram_write_keeps_the_old_file(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = write(tmp_path / f"old.{suffix}", "old")
    _fail_midway(monkeypatch)
    code, _, err = cli(capsys, "render", "resnet18", "-o", str(out))
    assert code == 1 and "No space left on device" in err
    assert out.read_text() == "old" and _only(tmp_path) == [out.name]  # no temporary file left


@pytest.mark.torch
@pytest.mark.parametrize("suffix", ["py", "pt"])
def test_a_failed_compile_write_keeps_the_old_file(
    suffix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write(tmp_path / "n.net", NET)
    out = write(tmp_path / f"model.{suffix}", "old")
    _fail_midway(monkeypatch)
    code, _, err = cli(capsys, "compile", str(spec), "-o", str(out))
    assert code == 1 and "No space left on device" in err
    assert out.read_text() == "old" and _only(tmp_path) == sorted([spec.name, out.name])


def test_a_folder_without_write_permission(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    out = write(locked / "r.dot", "old")
    if os.geteuid() == 0:  # root writes anywhere: refuse the temporary file as the kernel would
        real_open = os.open

        def no_write(path: object, flags: int, *a: object) -> int:
            if flags & os.O_CREAT:
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, flags, *a)  # type: ignore[arg-type]

        monkeypatch.setattr("netspec.files.os.open", no_write)
    locked.chmod(0o555)
    try:
        code, _, err = cli(capsys, "render", "resnet18", "-o", str(out))
    finally:
        locked.chmod(0o755)
    assert code == 1 and "Permission denied" in err and f"cannot write {out}" in err
    assert out.read_text() == "old" and _only(locked) == ["r.dot"]


@pytest.mark.parametrize("command", ["render", "compile"])
def test_output_folders(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, command, "resnet18", "-o", str(tmp_path))
    assert code == 1 and "is a folder" in err and "hint: name a file in it" in err
    code, _, err = cli(capsys, command, "resnet18", "-o", str(tmp_path / "missing" / "x.py"))
    assert code == 1 and "does not exist" in err and not (tmp_path / "missing").exists()


def test_a_long_output_name_fits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "r" * 251 + ".dot"  # 255 bytes: legal, but no room for a longer temporary name
    code, out, _ = cli(capsys, "render", "resnet18", "-o", str(tmp_path / name))
    assert code == 0 and (tmp_path / name).read_text().startswith("digraph")
    code, _, err = cli(capsys, "render", "resnet18", "-o", str(tmp_path / ("r" * 252 + ".dot")))
    assert code == 1 and "too long" in err


@pytest.mark.parametrize("command", ["render", "compile"])
def test_outputs_never_overwrite_a_spec(command: str, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(project / "main.py", 'import "blocks.net"\nnetwork n() {\n  input 3x8x8\n  cbr(4)\n}\n')
    before = {p.name: p.read_bytes() for p in project.iterdir()}
    for out in (spec, project / "blocks.net"):
        code, _, err = cli(capsys, command, str(spec), "-o", str(out))
        assert code == 1 and "would overwrite the spec" in err, err
    (project / "alias.net").symlink_to(project / "blocks.net")
    code, _, err = cli(capsys, command, str(spec), "-o", str(project / "alias.net"))
    assert code == 1 and "would overwrite the spec" in err
    assert {p.name: p.read_bytes() for p in project.iterdir() if p.name != "alias.net"} == before


def test_render_diff_protects_the_baseline_too(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write(project / "base.dot", NET)
    code, _, err = cli(capsys, "render", "resnet18", "--diff", str(base), "-o", str(base))
    assert code == 1 and "would overwrite the spec" in err and base.read_text() == NET


def test_a_full_stdout_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    import subprocess

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    spec = write(tmp_path / "n.net", NET)
    root = Path(__file__).resolve().parent.parent
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "netspec", "summary", str(spec)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
            timeout=120,
        )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert "No space left on device" in proc.stderr


@pytest.mark.torch
def test_a_network_too_large_to_allocate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "big.net", "network big(w=100000) {\n  input 3x8x8\n  flatten\n  linear w\n  linear w\n}\n")
    code, _, err = cli(capsys, "compile", str(spec), "-o", str(tmp_path / "big.pt"))
    assert code == 1 and "GiB of weights" in err and "-o model.py" in err and not (tmp_path / "big.pt").exists()
    with pytest.raises(SpecError, match="GiB of weights"):
        netspec.compile(spec)
    import torch

    with torch.device("meta"):  # nothing is allocated: nothing is refused
        assert sum(p.numel() for p in netspec.compile(spec).parameters()) == 10_019_400_000
    code, _, _ = cli(capsys, "compile", str(spec), "-o", str(tmp_path / "big.py"))
    assert code == 0


@pytest.mark.torch
def test_class_names_the_generated_file_uses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("nn", "torch", "None", "class", "Model", "int", "a\x1bb"):
        code, _, err = cli(capsys, "compile", "resnet18", "-o", str(tmp_path / "m.py"), "--class-name", name)
        assert code == 1 and "class" in err and "\x1b" not in err


# ---------------------------------------------------------------- nothing is unpickled from where others write


class _Plant:
    """Unpickling this creates the file `marker`: proof that a planted cache file was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def _cache_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The file name of netspec's lark table cache (it changes with the grammar and lark)."""
    from importlib import resources

    from netspec import parse as P

    with monkeypatch.context() as m:
        m.setenv("XDG_CACHE_HOME", str(tmp_path / "probe"))
        path = P._cache_path(resources.files("netspec").joinpath("grammar.lark").read_text())
    assert isinstance(path, str)
    return Path(path).name


@pytest.mark.parametrize("where", ["world-writable folder", "world-writable parent", "relative XDG_CACHE_HOME"])
def test_a_planted_table_cache_is_never_loaded(where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle
    import subprocess

    name = _cache_name(monkeypatch, tmp_path)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(mode=0o700)
    work.mkdir()
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    if where == "relative XDG_CACHE_HOME":  # a cloned repository could ship cache/netspec/...
        env["XDG_CACHE_HOME"] = "cache"
        folder = work / "cache" / "netspec"
        folder.mkdir(parents=True, mode=0o700)
    else:
        xdg = tmp_path / "xdg"
        folder = xdg / "netspec"
        folder.mkdir(parents=True, mode=0o700)
        (folder if where == "world-writable folder" else xdg).chmod(0o777)
        env["XDG_CACHE_HOME"] = str(xdg)
    marker = tmp_path / "pwned"
    (folder / name).write_bytes(b"0" * 64 + b"\n" + pickle.dumps(_Plant(marker)))
    write(work / "n.net", NET)
    proc = subprocess.run(
        [sys.executable, "-m", "netspec", "check", "n.net"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()


def _grammar() -> str:
    from importlib import resources

    return resources.files("netspec").joinpath("grammar.lark").read_text()


def test_the_table_cache_lives_in_a_private_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netspec import parse as P

    xdg = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    path = P._cache_path(_grammar())
    assert isinstance(path, str) and Path(path).parent == xdg / "netspec"
    assert (xdg / "netspec").stat().st_mode & 0o777 == 0o700
    (xdg / "netspec").chmod(0o755)  # ours, but readable by others: tightened, still used
    assert P._cache_path(_grammar()) == path and (xdg / "netspec").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "where",
    [
        "another user's folder",
        "group-writable folder",
        "symlinked folder",
        "file in its place",
        "relative HOME",
        "relative XDG_CACHE_HOME, relative HOME",
    ],
)
def test_the_table_cache_is_off_where_others_could_write(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No cache (lark then builds its tables) rather than one that others could plant a pickle in."""
    from netspec import parse as P

    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    folder = xdg / "netspec"
    if where == "another user's folder":
        folder.mkdir(mode=0o700)
        uid = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: uid + 1)
    elif where == "group-writable folder":
        folder.mkdir()
        folder.chmod(0o770)
    elif where == "symlinked folder":  # ~/.cache/netspec -> a folder an attacker controls
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o700)
        folder.symlink_to(shared, target_is_directory=True)
    elif where == "file in its place":
        folder.write_text("")
    else:
        monkeypatch.setenv("HOME", "home")
        if where.startswith("relative XDG"):
            monkeypatch.setenv("XDG_CACHE_HOME", "cache")
        else:
            monkeypatch.delenv("XDG_CACHE_HOME")
    assert P._cache_path(_grammar()) is False
    assert not (tmp_path / "shared" / "x").exists()


# ---------------------------------------------------------------- JSON is strict


def test_json_outputs_hold_no_nan_or_infinity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from netspec.jsonout import dumps

    assert dumps({"a": [float("inf"), float("-inf"), float("nan"), 1.5]}) == '{"a": ["inf", "-inf", "nan", 1.5]}'
    spec = write(tmp_path / "f.net", "network f(alpha=0.5) {\n  input 3x8x8\n  lrn alpha=alpha\n}\n")
    for value in ("1e308*10", "0.5"):
        code, out, err = cli(capsys, "summary", str(spec), "--json", "--set", f"alpha={value}")
        if code == 0:
            json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
        else:
            assert err.startswith(f"{spec.name}:") or "error" in err


# ---------------------------------------------------------------- rendering is bounded like checking


def fan_spec(n: int) -> str:
    """One tensor read by each of n layers in a row (`add @x`): dot once took >10 min at n=140."""
    return "network fan() {\n  input 3x8x8\n  x: conv 8 k=3 p=1\n" + "  add @x\n" * n + "}\n"


def fan_in_spec(n: int) -> str:
    """n layers in a row, all concatenated at the end: n long edges converge on one box."""
    body = "".join(f"  l{i}: conv 8 k=1\n" for i in range(n))
    refs = " ".join(f"@l{i}" for i in range(n))
    return "network fanin() {\n  input 3x8x8\n" + body + f"  concat {refs}\n}}\n"


def nested_spec(levels: int) -> str:
    """Blocks nested `levels` deep, each calling the one below twice: 2**levels layers."""
    lines = ["block b0(c) { relu }"]
    lines += [f"block b{i}(c) {{ b{i - 1}(c); b{i - 1}(c) }}" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nnetwork nested() {{\n  input 3x8x8\n  b{levels}(8)\n}}\n"


def chain_spec(n: int) -> str:
    """n weightless layers in a row: more boxes than dot lays out in seconds."""
    return "network chain() {\n  input 3x8x8\n" + "  relu\n" * n + "}\n"


@pytest.mark.parametrize(("spec", "stub"), [(fan_spec(140), "@x"), (fan_in_spec(140), "@l")])
def test_many_readers_of_one_tensor_render_in_seconds(spec: str, stub: str, tmp_path: Path) -> None:
    import shutil
    import time

    if shutil.which("dot") is None:
        pytest.skip("Graphviz 'dot' is not installed")
    g = netspec.load_text(spec)
    start = time.perf_counter()
    svg = netspec.render(g, depth="full").pipe("svg").decode()
    assert time.perf_counter() - start < 60  # was more than ten minutes for the fan
    assert stub in svg  # far readers are drawn as `@x` stubs beside them


def test_a_view_too_large_to_lay_out_names_a_depth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "c.net", chain_spec(2000))
    code, _, err = cli(capsys, "render", str(spec), "--depth", "full", "-o", str(tmp_path / "c.svg"))
    assert code == 1 and "too large to lay out" in err and not (tmp_path / "c.svg").exists()
    assert "no smaller depth draws this network" in err  # a plain chain has no blocks to close
    nested = write(tmp_path / "n.net", nested_spec(11))
    code, _, err = cli(capsys, "render", str(nested), "--depth", "full", "-o", str(tmp_path / "n.svg"))
    assert code == 1 and "hint: use --depth " in err
    depth = err.split("use --depth ")[1].split()[0]
    code, out, _ = cli(capsys, "render", str(nested), "--depth", depth, "-o", str(tmp_path / "n.dot"))
    assert code == 0 and "wrote" in out
    code, _, _ = cli(capsys, "render", str(spec), "--depth", "full", "-o", str(tmp_path / "c.dot"))
    assert code == 0  # the source alone is written: no layout


def test_dot_is_stopped_after_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netspec.compiler import to_graphviz

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write(bin_dir / "dot", "#!/bin/sh\nexec sleep 30\n").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(to_graphviz, "DOT_TIMEOUT", 0.5)
    monkeypatch.setattr(to_graphviz.Diagram.pipe, "__defaults__", (None, 0.5))
    code, _, err = cli(capsys, "render", "resnet18", "-o", str(tmp_path / "r.svg"))
    assert code == 1 and "did not finish" in err and "was stopped" in err and "hint: draw less" in err
    assert not (tmp_path / "r.svg").exists()


def test_the_default_depth_takes_one_view(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netspec.compiler import diagram_view, to_graphviz

    g = netspec.load_text(nested_spec(8))
    built: list[int | None] = []
    real = diagram_view.build_view

    def counted(graph: object, depth: int | None) -> object:
        built.append(depth)
        return real(graph, depth)  # type: ignore[arg-type]

    monkeypatch.setattr(to_graphviz, "build_view", counted)
    d = to_graphviz.render(g)
    assert built == [d.view.depth]  # one view, not one per depth
    assert len(d.view.boxes) <= diagram_view.MAX_DEFAULT_BOXES


def test_jupyter_display_is_bounded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from netspec.compiler import to_html

    d = netspec.render(netspec.load_text(chain_spec(2000)), depth="full")
    assert d._repr_svg_() is None  # too large to lay out: no exception in the notebook
    assert "2002 boxes" in repr(d)
    monkeypatch.setattr(to_html, "MAX_PAGE_LAYERS", 100)
    assert d._repr_html_() is None
    with pytest.raises(SpecError, match="too large for the interactive page"):
        d.html()


def test_outputs_are_never_devices_and_replace_symlinks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "out.dot"
    os.mkfifo(fifo)
    code, _, err = cli(capsys, "render", "resnet18", "-o", str(fifo))
    assert code == 1 and "not a regular file" in err
    victim = write(tmp_path / "victim.txt", "keep")
    link = tmp_path / "link.dot"
    link.symlink_to(victim)  # a link planted where the output goes: the link is replaced, not its target
    code, _, _ = cli(capsys, "render", "resnet18", "-o", str(link))
    assert code == 0 and victim.read_text() == "keep" and not link.is_symlink()


@pytest.mark.parametrize("depth", ["\u0663", "9" * 5000, "-1", "1e3"])
def test_depth_arguments(depth: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "render", "resnet18", "--depth", depth, "-o", str(tmp_path / "r.dot"))
    assert code == 1 and "depth must be a number" in err


def test_view_answers_only_its_own_host(tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    from netspec.view import ViewServer

    spec = write(tmp_path / "n.net", NET)
    with ViewServer(str(spec)) as server:
        with urllib.request.urlopen(server.url + "state.json?version=" + "9" * 5000, timeout=10) as ok:
            assert ok.status == 200
        port = server.httpd.server_address[1]
        request = urllib.request.Request(server.url + "state.json", headers={"Host": f"evil.example:{port}"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=10)
        assert e.value.code == 403
        e.value.close()


def test_api_option_types() -> None:
    with pytest.raises(SpecError, match="limits must be"):
        netspec.load("resnet18", limits={"max_nodes": 1})  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="is not a folder"):
        netspec.load("resnet18", import_roots="no/such/folder")
    with pytest.raises(SpecError, match="spec must be a str or a path"):
        netspec.load(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "TOKEN=hunter2\n",
        "# settings\n\nTOKEN = 'hunter2'\n",
        '{"token": "hunter2"}',
        "root:x:0:0:hunter2:/root:/bin/sh\n",
    ],
)
def test_a_file_that_is_no_spec_is_never_quoted(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "check", str(write(tmp_path / "secrets", text)))
    assert code == 1 and "is not a netspec spec" in err and "hunter2" not in err
    with pytest.raises(SpecError) as e:
        netspec.load_text(text)
    assert "hunter2" not in e.value.render()
