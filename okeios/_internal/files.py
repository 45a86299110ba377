"""Writing files safely: the one place okeios writes a file that must not be half-written or
read by another local user.

* :func:`write_atomic` writes all or nothing: a fresh temporary file in the target's folder,
  created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` under an unpredictable name (so a planted file
  or symbolic link is never opened, truncated or followed), fsynced, then renamed over the
  target (a rename replaces a link at the target; it never writes through it), and the folder
  fsynced.
* ``private=True`` creates it with mode 0600 (owner only); the mode is set at creation, so
  the secret is never readable by others, not even for a moment.
* Only a regular file (or a missing one) is replaced. A target that is a character device or
  a FIFO (``-o /dev/null``, ``-o /dev/stdout``, a named pipe) is written through, as a shell
  redirection would: replacing it would turn the device into a regular file holding the data
  (as root, ``/dev/null`` itself). Any other kind of file (a folder, a block device, a socket)
  is refused.
* :func:`private_dir` makes (or tightens) a folder to mode 0700.

A missing parent folder is an :class:`~okeios.errors.InputError` naming it, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from okeios.errors import FileWriteError, InputError

__all__ = ["FileWriteError", "private_dir", "read_limited", "write_atomic"]

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: str | Path, data: bytes, *, private: bool = False) -> Path:
    """Write ``data`` to ``path`` all or nothing (mode 0600 with ``private``, else 0644 less
    the umask). Returns the path written."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileWriteError(f"cannot write {path}: the folder {folder} does not exist")
    if _write_through(path, data):
        return path
    mode = 0o600 if private else 0o644
    for _ in range(16):
        tmp = folder / f".{path.name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, _OPEN_FLAGS | _CLOEXEC, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise FileWriteError(f"cannot write {path}: {exc.strerror}") from exc
        break
    else:  # pragma: no cover - 16 collisions of 64 random bits
        raise FileWriteError(f"cannot create a temporary file beside {path}")
    try:
        try:
            if private:
                os.fchmod(fd, 0o600)  # whatever the umask did
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FileWriteError(f"cannot write {path}: {exc.strerror}") from exc
        raise
    _fsync_dir(folder)
    return path


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _write_through(path: Path, data: bytes) -> bool:
    """Write ``data`` into an existing character device or FIFO at ``path`` (following a
    link to one); ``False`` when ``path`` is a regular file or missing (the caller replaces
    it). Refuses any other kind of file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise FileWriteError(f"cannot write {path}: {exc.strerror}") from exc
    if stat.S_ISREG(st.st_mode):
        return False
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise FileWriteError(f"cannot write {path}: it is {_kind(st.st_mode)}")
    try:
        # No O_CREAT and no O_TRUNC: this opens what is there and never makes a file.
        fd = os.open(path, os.O_WRONLY | _CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise FileWriteError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        now = os.fstat(fd)
        if not (stat.S_ISCHR(now.st_mode) or stat.S_ISFIFO(now.st_mode)):
            raise FileWriteError(f"cannot write {path}: it changed while being opened")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise FileWriteError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    return True


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) and make it mode 0700; refuse a symbolic link."""
    path = Path(path)
    try:
        if path.is_symlink():
            raise FileWriteError(f"{path} is a symbolic link; okeios keeps its home in a folder")
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if stat.S_IMODE(path.stat().st_mode) != 0o700:
            path.chmod(0o700)
    except OSError as exc:
        raise FileWriteError(f"cannot create the folder {path}: {exc.strerror}") from exc
    return path


def read_limited(path: str | Path, limit: int, what: str = "file") -> bytes:
    """Read at most ``limit`` bytes of ``path``; a larger file is an :class:`InputError`."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > limit:
        raise InputError(f"{path}: the {what} is larger than the {limit}-byte limit")
    return data
