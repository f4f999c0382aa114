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
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import CktGenError

# Largest input file any command reads (circuit JSON, netlists, CSVs): real ones are kB, and a
# bound keeps /dev/zero or a multi-GB file from filling memory before a parser sees it.
MAX_INPUT_BYTES = 16 * 2**20


def read_bytes(path: str | Path, error: type[CktGenError] = CktGenError) -> bytes:
    """The bytes of a user's file, at most ``MAX_INPUT_BYTES`` (read up to the bound, so a
    device such as ``/dev/zero`` cannot fill memory).

    Raises:
        error: naming the file, when it cannot be read or is too large.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: cannot read: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise error(f"{path}: larger than {MAX_INPUT_BYTES >> 20} MiB, the limit for input files")
    return data


def read_text(path: str | Path, error: type[CktGenError] = CktGenError) -> str:
    """The UTF-8 text of a user's file (``read_bytes``).

    Raises:
        error: naming the file, when it cannot be read, is too large or is not UTF-8.
    """
    data = read_bytes(path, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: cannot read: not UTF-8 text (byte {exc.start})") from None


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
    return write_files({path: data}, force=force)[0]


def write_files(files: Mapping[str | Path, str | bytes], force: bool = True) -> list[Path]:
    """Write several files all or nothing, each atomically (see ``atomic_write``).

    Every target is checked before anything is written; if one fails, those already in
    place are removed again, or restored to their old content when ``force`` replaced them.

    Raises:
        CktGenError: naming the first target that exists (without ``force``), is not a
            regular file, or cannot be written.
    """
    items = [(Path(p), d.encode("utf-8") if isinstance(d, str) else d) for p, d in files.items()]
    for path, _ in items:
        _check_target(path, force)
    temps: list[str] = []
    placed: list[tuple[Path, str | None]] = []  # (target, backup of the file it replaced)
    path = items[0][0] if items else Path(".")
    try:
        for path, data in items:
            temps.append(_temp_file(path, data))
        for (path, _), tmp in zip(items, temps):
            placed.append((path, _place(tmp, path, force)))
    except BaseException as exc:
        failed = path
        for done, backup in reversed(placed):
            _undo(done, backup)
        for tmp in temps:
            _remove(tmp)
        if isinstance(exc, OSError):
            raise CktGenError(f"cannot write {failed}: {exc.strerror or exc}") from None
        raise
    for _, backup in placed:
        if backup is not None:
            _remove(backup)
    return [path for path, _ in items]


def write_folder(
    folder: str | Path, files: Mapping[str, str | bytes], force: bool = False
) -> list[Path]:
    """``write_files`` of ``files`` (by name) into ``folder``, created when missing and
    removed again when this call created it and the writing failed."""
    folder = Path(folder)
    created = not os.path.lexists(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CktGenError(f"cannot create {folder}: {exc.strerror or exc}") from None
    try:
        return write_files({folder / name: data for name, data in files.items()}, force=force)
    except BaseException:
        if created:  # write_files has taken its own files away again
            try:
                folder.rmdir()
            except OSError:
                pass
        raise


def check_output(path: str | Path, force: bool = False) -> Path:
    """Fail now, before long work, when ``path`` could not be written later: its folder
    must exist and be writable, the target new or (``force``) a regular file."""
    path = Path(path)
    _check_target(path, force)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CktGenError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CktGenError(f"cannot write {path}: folder {folder} is not writable")
    return path


def check_output_dir(folder: str | Path, names: Iterable[str] = (), force: bool = False) -> None:
    """Fail now when ``folder`` can neither hold output nor be created, or (when it exists)
    when one of the files ``names`` in it could not be written later."""
    folder = Path(folder)
    if folder.is_dir():
        for name in names:
            check_output(folder / name, force)
    probe = folder
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise CktGenError(f"cannot write into {folder}: {probe} is not a folder")
    if not os.access(probe, os.W_OK):
        raise CktGenError(f"cannot write into {folder}: {probe} is not writable")


def _temp_file(path: Path, data: bytes) -> str:
    """A new temporary file beside ``path`` holding ``data``, with the usual file mode."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _place(tmp: str, path: Path, force: bool) -> str | None:
    """Move ``tmp`` to ``path``; return a hard-link backup of the file it replaced, if any."""
    if not force:
        _create_exclusive(tmp, path)
        return None
    _check_target(path, force)  # as late as possible before the rename
    backup = None
    if os.path.lexists(path):
        try:
            os.link(path, tmp + ".old")
            backup = tmp + ".old"
        except OSError:  # no hard links here: the old file cannot be restored on failure
            pass
    try:
        os.replace(tmp, path)
    except BaseException:
        if backup is not None:
            _remove(backup)
        raise
    return backup


def _undo(path: Path, backup: str | None) -> None:
    try:
        if backup is None:
            os.unlink(path)
        else:
            os.replace(backup, path)
    except OSError:
        pass


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
