"""Atomic file output: write a temp file beside the target, then ``os.replace`` it."""

from __future__ import annotations

import os
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
        CktGenError: the file exists (without ``force``) or cannot be written.
    """
    path = Path(path)
    if not force and path.exists():
        raise CktGenError(f"{path} exists; use --force to overwrite")
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise CktGenError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise CktGenError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
