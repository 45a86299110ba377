"""The one writer of output and secret files (okeios._internal.files.write_atomic): a device or FIFO
named as the output is written through, never replaced by a regular file."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from okeios._internal.cli.main import main
from okeios._internal.files import FileWriteError, write_atomic


def _fifo_reader(path: Path) -> tuple[threading.Thread, list[bytes]]:
    got: list[bytes] = []

    def read() -> None:
        with open(path, "rb") as fh:
            got.append(fh.read())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, got


def test_a_fifo_is_written_through_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    thread, got = _fifo_reader(fifo)
    write_atomic(fifo, b"secret plaintext", private=True)
    thread.join(10)
    assert got == [b"secret plaintext"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the pipe, not a 0600 regular file
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]  # no temporary file left


def test_a_link_to_a_character_device_is_written_through(tmp_path: Path) -> None:
    link = tmp_path / "null"
    link.symlink_to(os.devnull)
    write_atomic(link, b"secret plaintext", private=True)
    assert stat.S_ISCHR(os.stat(link).st_mode)
    assert os.readlink(link) == os.devnull


def test_other_kinds_of_file_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(FileWriteError, match="it is a folder"):
        write_atomic(folder, b"x")
    assert folder.is_dir()
    regular = tmp_path / "out"
    regular.write_bytes(b"old")
    write_atomic(regular, b"new", private=True)  # a regular file is replaced atomically
    assert regular.read_bytes() == b"new"
    assert stat.S_IMODE(regular.stat().st_mode) == 0o600


def test_export_to_a_fifo_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`okeios export -o FIFO` (and every -o): the bytes go down the pipe; the pipe stays."""
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--no-passphrase"]) == 0
    record = tmp_path / "r.json"
    record.write_text(json.dumps({"resourceType": "Basic", "id": "b1", "code": {"text": "x"}}))
    capsys.readouterr()
    assert main(["add", "--home", str(home), str(record)]) == 0
    rid = capsys.readouterr().out.split()[0]
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    thread, got = _fifo_reader(fifo)
    assert main(["export", rid, "--home", str(home), "--reveal-all", "-o", str(fifo)]) == 0
    thread.join(10)
    assert len(got) == 1
    assert b"b1" in got[0]  # the whole bundle, with the revealed record, went down the pipe
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
