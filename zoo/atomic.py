"""Atomic file and directory writes: the one mechanism every writer of the zoo, train/ and demo/
goes through.

A write goes to a temporary sibling and is renamed over its target only when complete, so a
crash or a kill never leaves a truncated file under the final name.

A temporary is named ``.NAME.vzoo-tmp-<32 hex digits>[.ext]``, and beside it its writer keeps
``.NAME.vzoo-lck-<same digits>``, a lock file on which it holds an exclusive advisory lock
(``flock``) for as long as it runs. The lock file is created and locked before the temporary
exists and removed only after the temporary is gone, and no other code opens it. The kernel
releases the lock when the writer exits, however it exits, so a later write *proves* a
temporary abandoned by taking that lock itself; no process id is involved (pids are reused,
and mean nothing across containers or hosts). On NFS, Linux maps ``flock`` to the server's
byte-range locks, so the proof holds across hosts (not on mounts with ``nolock``, whose locks
are per host); keeping the lock on a file nobody else opens matters there, because a process
drops such a lock when it closes any descriptor of the file.

:func:`clean_stale` removes only what it can prove abandoned: a temporary whose lock file it
can lock, and that this process is not writing. A file system without locks gets no lock file,
so its temporaries are never removed, only reported; so is anything else that looks like a
temporary. A user's ``.draft.tmp-1.txt`` matches nothing and is never looked at. Every write
cleans its folder once per process, so a killed run's leftovers go at the next run's first
write.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no flock, so no temporary is ever provably abandoned
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("zoo")

TMP_MARK = ".vzoo-tmp-"
LOCK_MARK = ".vzoo-lck-"
OLD_MARK = ".vzoo-old-"
#: A temporary's, lock file's or replaced folder's name: a dot, the target's name (its first
#: :data:`NAME_CHARS` characters), the mark, 32 hex digits, the target's suffix.
_TEMPORARY = re.compile(
    r"^\.(?P<target>.+)\.vzoo-(?P<kind>tmp|lck|old)-(?P<token>[0-9a-f]{32})"
    r"(?P<suffix>\.[A-Za-z0-9]{1,10})?$"
)
#: Characters of the target's name kept in its temporary's name (names stay under 255 bytes).
NAME_CHARS = 100

_live: set[str] = set()  # tokens of the temporaries this process is writing: it never opens
# their lock files (on NFS, closing that descriptor would drop its own lock)
_cleaned: set[str] = set()  # folders this process has already cleaned
_state_lock = threading.Lock()


def _lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False when held elsewhere or when the
    file system does not support locks."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class Temporary:
    """A locked temporary file or folder beside ``target``; :meth:`commit` renames it over
    ``target``, :meth:`discard` removes it (as does leaving a ``with`` block without a
    commit). Writers that need a path (PyAV, PIL, torch) write to :attr:`path`;
    :func:`atomic_write` wraps it for file objects.

    The temporary has the target's suffix (writers that choose a format by suffix choose the
    right one) and the permissions the user's umask gives any new file.

    Args:
        target: The final path; its folder is created if missing.
        directory: Make a temporary folder instead of a file.

    Attributes:
        path: The temporary (an empty file, or an empty folder).
        target: The final path.

    Raises:
        OSError: The folder cannot be created or written.
    """

    def __init__(self, target: str | os.PathLike[str], *, directory: bool = False) -> None:
        self.target = Path(target)
        self.directory = directory
        self.done = False
        self.target.parent.mkdir(parents=True, exist_ok=True)
        clean_once(self.target.parent)
        suffix = self.target.suffix
        if directory or not re.fullmatch(r"(\.[A-Za-z0-9]{1,10})?", suffix):
            suffix = ""
        self.token = secrets.token_hex(16)
        stem = f".{self.target.name[:NAME_CHARS]}"
        self.path = self.target.with_name(f"{stem}{TMP_MARK}{self.token}{suffix}")
        self.lock_path: Path | None = self.target.with_name(f"{stem}{LOCK_MARK}{self.token}")
        with _state_lock:
            _live.add(self.token)
        self.lock_fd: int | None = None
        try:
            self._create_lock()
            if directory:
                self.path.mkdir()
            else:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except BaseException:
            self._release()
            raise

    def _create_lock(self) -> None:
        """Create and lock the lock file; without locks, go without one (never cleaned)."""
        assert self.lock_path is not None
        self.lock_fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        if not _lock(self.lock_fd):
            os.unlink(self.lock_path)
            os.close(self.lock_fd)
            self.lock_fd, self.lock_path = None, None

    def commit(self, *, replace: bool = True, fsync: bool = False) -> Path:
        """Rename the temporary over the target.

        Args:
            replace: Replace an existing target; False raises :class:`FileExistsError`
                instead. For a file the check and the rename are one step (a hard link), so
                a concurrent writer cannot slip in between; where the file system has no
                hard links (FAT, some network shares) and for folders they are two.
            fsync: Flush the file's data to disk first.

        Returns:
            The target.

        Raises:
            FileExistsError: ``replace=False`` and the target exists (the temporary is kept
                until :meth:`discard`).
        """
        if fsync and not self.directory:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if replace:
            os.replace(self.path, self.target)
        elif self.directory:
            _rename_if_absent(self.path, self.target)
        else:
            try:
                os.link(self.path, self.target)  # fails if the target exists
            except FileExistsError:
                raise
            except OSError:  # no hard links on this file system
                _rename_if_absent(self.path, self.target)
            else:
                os.unlink(self.path)
        self._release()
        return self.target

    def discard(self) -> None:
        """Remove the temporary (nothing else)."""
        if self.done:
            return
        if self.directory:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            with suppress(FileNotFoundError):
                os.unlink(self.path)
        self._release()

    def _release(self) -> None:
        """Remove the lock file (after the temporary is gone), then let go of the lock."""
        self.done = True
        if self.lock_path is not None:
            with suppress(OSError):
                os.unlink(self.lock_path)
        if self.lock_fd is not None:
            with suppress(OSError):
                os.close(self.lock_fd)
        self.lock_fd = self.lock_path = None
        with _state_lock:
            _live.discard(self.token)

    def __enter__(self) -> Temporary:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None or not self.done:
            self.discard()


def _rename_if_absent(source: Path, target: Path) -> None:
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "exists", str(target))
    os.rename(source, target)


@contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    replace: bool = True,
    fsync: bool = True,
    **open_kwargs: Any,
) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success.

    Args:
        path: The final file; its directory is created if missing.
        mode: ``"wb"`` (default) or ``"w"`` (text, UTF-8 unless ``encoding`` is given).
        replace: Replace an existing ``path`` (default); False raises
            :class:`FileExistsError` at the end instead, leaving the existing file alone.
        fsync: Flush the data to disk before the rename (survives a power cut, not only a kill).
        **open_kwargs: Passed to :func:`open` (e.g. ``newline=""`` for CSV).

    Yields:
        The open file.

    Raises:
        ValueError: ``mode`` is not a write mode.
        FileExistsError: ``replace=False`` and ``path`` exists.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    with Temporary(path) as temporary, open(temporary.path, mode, **open_kwargs) as file:
        yield file
        file.flush()
        if fsync:
            os.fsync(file.fileno())
        file.close()
        temporary.commit(replace=replace)


@contextmanager
def replace_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Fill a staging directory; on success it replaces ``path`` as a whole.

    Readers see either the complete old directory or the complete new one (the swap is two
    renames; between them ``path`` is briefly absent, never half-written). An error between the
    two puts the old directory back; a kill there leaves it at ``.NAME.vzoo-old-<hex>``, which
    :func:`clean_stale` reports and never removes while ``path`` is missing.

    Yields:
        The empty staging directory to write into.

    Raises:
        FileExistsError: ``path`` exists and is not a directory (it is left alone).
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory")
    with Temporary(target, directory=True) as staging:
        yield staging.path
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}{OLD_MARK}{secrets.token_hex(16)}")
            os.replace(target, old)
        try:
            staging.commit()
        except BaseException:
            if old is not None and not os.path.lexists(target):
                os.replace(old, target)  # the previous version stays where it was
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def clean_once(directory: str | os.PathLike[str]) -> None:
    """:func:`clean_stale` the first time this process writes into ``directory``."""
    key = os.path.realpath(directory)
    with _state_lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    clean_stale(directory)


def clean_stale(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries that killed writers left in ``directory`` (not recursive), and
    report on the ``zoo`` logger the ones it cannot prove abandoned.

    A ``.NAME.vzoo-tmp-<hex>`` file or folder goes with its lock file when no process holds
    that lock and this process is not writing it; a lock file without a temporary goes the same
    way; ``.NAME.vzoo-old-<hex>`` (the old version of a replaced folder) goes when ``NAME``
    exists again. Nothing else is touched.

    Returns:
        The temporaries and folders removed (lock files are not listed).
    """
    root = Path(directory)
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    groups: dict[str, dict[str, Path]] = {}
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is not None:
            groups.setdefault(match["token"], {})[match["kind"]] = Path(entry.path)
    removed, unproven = [], []
    for token, group in groups.items():
        if "old" in group:
            old = group["old"]
            target = _TEMPORARY.match(old.name)["target"]  # type: ignore[index]
            if old.is_dir() and not old.is_symlink() and (root / target).exists():
                shutil.rmtree(old, ignore_errors=True)
                removed.append(old)
            else:
                unproven.append(old)
        if "tmp" not in group and "lck" not in group:
            continue
        if _is_live(token):
            continue
        if "lck" not in group:  # written without a lock (no locks here), or a lost lock file
            unproven.append(group["tmp"])
        elif _abandoned(group["lck"], token):
            if "tmp" in group:
                _remove(group["tmp"])
                removed.append(group["tmp"])
            with suppress(FileNotFoundError):
                group["lck"].unlink()
    if removed:
        logger.info("removed %d abandoned temporaries in %s", len(removed), root)
    if unproven:
        names = ", ".join(p.name for p in unproven[:3]) + (" ..." if len(unproven) > 3 else "")
        logger.warning(
            "%s holds %d temporaries of interrupted (or still running) writes that cannot be "
            "proven abandoned: %s. Delete them if no write is running there.",
            root, len(unproven), names,
        )  # fmt: skip
    return removed


def _is_live(token: str) -> bool:
    with _state_lock:
        return token in _live


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with suppress(FileNotFoundError):
            path.unlink()


def _abandoned(lock_path: Path, token: str) -> bool:
    """Whether no process holds the lock file at ``lock_path`` (this process included)."""
    try:
        fd = os.open(lock_path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # another user's, a symlink: not provable
        return False
    try:
        return _lock(fd) and not _is_live(token)
    finally:
        os.close(fd)  # closing releases the lock taken above
