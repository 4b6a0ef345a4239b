"""Atomic file and directory writes: the one implementation the zoo, train/ and demo/ share.

A write goes to a temporary sibling named ``.NAME.tmp-PID-XXXX`` and is renamed over ``NAME``
only when complete, so a crash or a kill never leaves a truncated file under the final name.
Temporaries that a killed process left behind are removed by the next write in the same
directory (:func:`clean_stale`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TMP_MARK = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tmp_prefix(path: Path) -> str:
    """``.NAME.tmp-PID-``: the writer's process id tells a live temporary from a stale one."""
    return f".{path.name}{TMP_MARK}{os.getpid()}-"


def _writer_alive(item: Path) -> bool:
    pid = item.name.rpartition(TMP_MARK)[2].partition("-")[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", **open_kwargs: Any
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    Args:
        path: The final file; its directory is created if missing.
        mode: ``"wb"`` (default) or ``"w"`` (text, UTF-8 unless ``encoding`` is given).
        **open_kwargs: Passed to :func:`open` (e.g. ``newline=""`` for CSV).

    Yields:
        The open file. Data is flushed and fsynced before the rename.

    Raises:
        ValueError: ``mode`` is not a write mode.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target.parent)
    handle, tmp = tempfile.mkstemp(prefix=_tmp_prefix(target), dir=target.parent)
    try:
        with os.fdopen(handle, mode, **open_kwargs) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; open() would honour the umask
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def replace_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Fill a staging directory; on success it replaces ``path`` as a whole.

    Readers see either the complete old directory or the complete new one (the swap is two
    renames; between them ``path`` is briefly absent, never half-written).

    Yields:
        The empty staging directory to write into.

    Raises:
        FileExistsError: ``path`` exists and is not a directory (it is left alone).
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target.parent)
    staging = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield staging
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
            old.rmdir()
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def clean_stale(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries that killed writers left in ``directory`` (not recursive): those
    whose writing process no longer runs. Every atomic write calls it first.

    Returns:
        The paths removed.
    """
    root = Path(directory)
    if not root.is_dir():
        return []
    removed = []
    for item in root.iterdir():
        if item.name.startswith(".") and TMP_MARK in item.name and not _writer_alive(item):
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)
            removed.append(item)
    return removed
