"""Atomic file output: write a temp file beside the target, then move it into place.

Only regular files are ever replaced: a device, FIFO, socket, directory or symbolic link
at the target is an error, ``--force`` or not (as root, ``-o /dev/null --force`` must not
replace ``/dev/null``). Without ``force`` the new file appears by an exclusive hard link,
so of several writers racing for one new path exactly one wins.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from .errors import CktGenError


def atomic_write(path: str | Path, data: str | bytes, force: bool = True) -> Path:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    Args:
        path: target file; its directory must exist.
        data: text (UTF-8) or bytes.
        force: when False, an existing file is an error instead of being replaced.

    Raises:
        CktGenError: the file exists (without ``force``), is not a regular file, or cannot
            be written.
    """
    path = Path(path)
    _check_target(path, force)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise CktGenError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        if force:
            _check_target(path, force)  # as late as possible before the rename
            os.replace(tmp, path)
        else:
            _create_exclusive(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise CktGenError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path


def _check_target(path: Path, force: bool) -> None:
    """Refuse anything at ``path`` but a regular file, and a regular file without force."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CktGenError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise CktGenError(f"{path} is {_kind(st.st_mode)}, not a regular file; not replacing it")
    if not force:
        raise CktGenError(f"{path} exists; use --force to overwrite")


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def _create_exclusive(tmp: str, path: Path) -> None:
    """Move ``tmp`` to the new path ``path``, failing if anything appeared there meanwhile."""
    try:
        os.link(tmp, path)  # atomic: EEXIST if the path exists, whoever made it
    except FileExistsError:
        raise CktGenError(f"{path} exists; use --force to overwrite") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        _check_target(path, False)  # a filesystem without hard links: best effort
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
