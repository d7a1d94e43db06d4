"""File and tty decoders on byte fixtures: no root, no kernel."""

from __future__ import annotations

import pytest
from ringside_schema import FileLink, FileRename, Host, TtyWrite, WireContext, wire
from ringside_schema.file import FileInfo

from tests import wirebuild as wb

HOST = Host(hostname="h", id="m", boot_id="b")
OPENAT, RENAMEAT2, MKNOD, UNLINKAT, SYMLINKAT, LINKAT, CHOWN = 2, 16, 7, 12, 27, 25, 20


def dec(raw: bytes, ctx: WireContext | None = None) -> object:
    return wire.decode_record(raw, 0, len(raw), ctx or WireContext(HOST, "i"))


def info(ev: object) -> FileInfo:
    return ev.file  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize(("path", "directory", "expected"), [
    (b"/etc/passwd", b"/ignored", "/etc/passwd"),
    (b"x.txt", b"/home/u", "/home/u/x.txt"),
    (b"../b/./c", b"/srv/a", "/srv/b/c"),
    (b"x", b"/", "/x"),
    (b"", b"/dev/shm/file", "/dev/shm/file"),   # AT_EMPTY_PATH: the descriptor's own file
    (b"//double//slash/", b"/", "/double/slash"),
])
def test_paths_are_joined_with_their_directory(path: bytes, directory: bytes,
                                               expected: str) -> None:
    ev = dec(wb.file_record(wire.EVENT_FILE_CREATE, OPENAT,
                            [(wire.VL_PATH, 0, path), (wire.VL_DIR, 0, directory)],
                            mode=0o100644, oflags=0o101, ret=3))
    assert info(ev).path == expected
    assert (info(ev).syscall, info(ev).type, info(ev).mode, info(ev).result) == (
        "openat", "file", 0o644, 3)


def test_relative_path_without_a_directory_asks_the_context() -> None:
    ctx = WireContext(HOST, "i")
    asked = []
    ctx.resolve_dir = lambda pid, dfd: asked.append((pid, dfd)) or "/from/table"  # type: ignore[func-returns-value]
    ev = dec(wb.file_record(wire.EVENT_FILE_DELETE, UNLINKAT, [(wire.VL_PATH, 0, b"f")],
                            dfd=7, pid=55), ctx)
    assert info(ev).path == "/from/table/f"
    assert asked == [(55, 7)]
    no_table = dec(wb.file_record(wire.EVENT_FILE_DELETE, UNLINKAT, [(wire.VL_PATH, 0, b"f")]))
    assert info(no_table).path == "f"  # nobody knows where it starts: left as given


def test_rename_and_links() -> None:
    ren = dec(wb.file_record(wire.EVENT_FILE_RENAME, RENAMEAT2, [
        (wire.VL_PATH, 0, b"/a/old"), (wire.VL_PATH_NEW, 0, b"new"), (wire.VL_DIR_NEW, 0, b"/b")]))
    assert isinstance(ren, FileRename)
    assert (info(ren).path, info(ren).old_path) == ("/b/new", "/a/old")
    sym = dec(wb.file_record(wire.EVENT_FILE_LINK, SYMLINKAT, [
        (wire.VL_PATH_NEW, 0, b"/l"), (wire.VL_LINK_TARGET, wire.VL_F_TRUNCATED, b"../t")]))
    assert isinstance(sym, FileLink)
    assert (info(sym).path, info(sym).target, info(sym).type) == ("/l", "../t", "symlink")
    assert sym.truncated == ["file.target"]
    hard = dec(wb.file_record(wire.EVENT_FILE_LINK, LINKAT, [
        (wire.VL_PATH, 0, b"/x"), (wire.VL_PATH_NEW, 0, b"/y")]))
    assert (info(hard).path, info(hard).target, info(hard).type) == ("/y", "/x", None)


def test_types_owners_and_flags() -> None:
    fifo = dec(wb.file_record(wire.EVENT_FILE_CREATE, MKNOD, [(wire.VL_PATH, 0, b"/p")],
                              mode=0o010600))
    assert (info(fifo).type, info(fifo).mode) == ("fifo", 0o600)
    rmdir = dec(wb.file_record(wire.EVENT_FILE_DELETE, UNLINKAT, [(wire.VL_PATH, 0, b"/d")],
                               oflags=0x200))
    assert info(rmdir).type == "directory"
    chown = dec(wb.file_record(wire.EVENT_FILE_CHOWN, CHOWN, [(wire.VL_PATH, 0, b"/f")],
                               uid=0, gid=0xFFFFFFFF))
    assert (info(chown).uid, info(chown).gid, info(chown).mode) == (0, None, None)


def test_an_open_reports_the_type_of_the_file_it_opened() -> None:
    def opened(etype: int, mode: int) -> FileInfo:
        return info(dec(wb.file_record(etype, OPENAT, [(wire.VL_PATH, 0, b"/dev/x")],
                                       mode=mode)))

    # The sensor sends the opened inode's type bits (full tier) and clears the
    # mode argument's own: /dev/ptmx opened for writing is a character device.
    assert opened(wire.EVENT_FILE_MODIFY, 0o020000).type == "char_device"
    assert opened(wire.EVENT_FILE_MODIFY, 0o060000).type == "block_device"
    assert opened(wire.EVENT_FILE_MODIFY, 0o010000).type == "fifo"
    assert (opened(wire.EVENT_FILE_MODIFY, 0o100000).type,
            opened(wire.EVENT_FILE_MODIFY, 0o100000).mode) == ("file", None)
    created = opened(wire.EVENT_FILE_CREATE, 0o100640)
    assert (created.type, created.mode) == ("file", 0o640)
    # No type bits (the reduced tier, or a failed open): known only for a create.
    assert opened(wire.EVENT_FILE_MODIFY, 0o644).type is None
    assert opened(wire.EVENT_FILE_CREATE, 0o600).type == "file"
    # Type bits that name no type say nothing.
    assert opened(wire.EVENT_FILE_MODIFY, 0o170000).type is None


def test_unknown_file_op_is_a_counted_error() -> None:
    with pytest.raises(wire.WireFormatError) as err:
        dec(wb.file_record(wire.EVENT_FILE_CREATE, 99, []))
    assert err.value.reason == "malformed"


def test_tty_write() -> None:
    ev = dec(wb.tty_record([(wire.VL_TTY_NAME, 0, b"pts7"), (wire.VL_TTY_OUT, 0, b"$ ls\r\n\xff")],
                           length=7, rows=50, cols=200))
    assert isinstance(ev, TtyWrite)
    assert (ev.tty.name, ev.tty.rows, ev.tty.cols) == ("pts/7", 50, 200)
    assert ev.process.tty == "pts/7"
    assert (ev.data, ev.length, ev.skipped, ev.truncated) == ("$ ls\r\n\\xff", 7, 0, None)
    cut = dec(wb.tty_record([(wire.VL_TTY_OUT, wire.VL_F_TRUNCATED, b"a" * 10)],
                            length=9000, skipped=8990, rows=0, cols=0))
    assert isinstance(cut, TtyWrite)
    assert (cut.skipped, cut.truncated, cut.tty.rows, cut.tty.name) == (8990, ["data"], None, None)
