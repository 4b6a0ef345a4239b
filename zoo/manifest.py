"""The results table of ``python -m zoo predict``: a CSV that runs into one folder append to.

Rows are appended, never rewritten, so a second run into the same folder keeps the first run's
rows, and a run killed half-way keeps every row it finished. Each append is one ``write`` of
whole lines under an exclusive ``flock`` (concurrent runs interleave whole rows). A last line
without its newline (a hand edit, or a row a full disk cut short) is kept as it is and ended
before the next rows, its quote closed if one is open, so that they still parse. A file of that
name with other columns (another program's, or
an older zoo's) is never touched: the rows go to ``NAME-2.csv`` (``-3``, ...) instead. Text is
UTF-8; file names that are not stay byte for byte (``surrogateescape``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: appends are not serialised between processes
    fcntl = None  # type: ignore[assignment]


def _encode(rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8", "surrogateescape")


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


class Manifest:
    """An append-only CSV of result rows with fixed ``columns``.

    Args:
        folder: The folder it lives in.
        columns: Its header; rows are dicts with (a subset of) these keys.
        name: File name (``predictions.csv``); when a file of that name has another header,
            the first free or matching ``name-N.csv`` is used.
        optional: Columns an existing file may lack (one an earlier version wrote): its own
            header is kept, and rows are written in its columns (values of missing optional
            columns must be empty).

    Attributes:
        path: The file rows are appended to.
    """

    def __init__(
        self,
        folder: Path,
        columns: Sequence[str],
        name: str = "predictions.csv",
        optional: Sequence[str] = (),
    ):
        self.columns, self.optional = list(columns), set(optional)
        self.header = _encode([self.columns])
        stem, suffix = Path(name).stem, Path(name).suffix
        candidates = (folder / (name if n == 1 else f"{stem}-{n}{suffix}") for n in range(1, 1000))
        self.path = next(p for p in candidates if self._compatible(p))

    def _compatible(self, path: Path) -> bool:
        """Whether ``path`` is free, empty, or a table with this header (or with this header
        less some optional columns, which then becomes the header rows are written in)."""
        try:
            with open(path, "rb") as file:
                first = file.readline()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        if first in (b"", self.header):
            return True
        try:
            found = next(csv.reader([_decode(first)]))
        except (csv.Error, StopIteration):
            return False
        if not self.optional or set(self.columns) - set(found) - self.optional:
            return False
        if [c for c in self.columns if c in found] != found:  # same order, nothing unknown
            return False
        self.columns, self.header = found, first
        return True

    def rows(self) -> list[dict[str, str]]:
        """The complete rows so far (a torn last line is left out)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return list(csv.DictReader(io.StringIO(_decode(data[: data.rfind(b"\n") + 1]))))

    def append(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Append ``rows`` (keys outside the columns are an error) as one write.

        Raises:
            ValueError: A row has a key that is not a column.
            OSError: The file cannot be written.
        """
        for row in rows:
            extra = {k for k in set(row) - set(self.columns) if k not in self.optional or row[k]}
            if extra:
                raise ValueError(f"not columns of {self.path.name}: {sorted(extra)}")
        data = _encode([["" if row.get(c) is None else row.get(c) for c in self.columns]
                        for row in rows])  # fmt: skip
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            if fcntl is not None:
                with suppress(OSError):  # a file system without locks: append unserialised
                    fcntl.flock(fd, fcntl.LOCK_EX)
            end, size = _complete_length(fd), os.fstat(fd).st_size
            if end < size:  # a last line without its newline: end it, never cut it
                unclosed = os.pread(fd, size - end, end).count(b'"') % 2
                data = (b'"\n' if unclosed else b"\n") + data
            elif size == 0:
                data = self.header + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)  # releases the lock


def _complete_length(fd: int, chunk: int = 1 << 16) -> int:
    """Bytes up to and including the file's last newline (0 when it has none)."""
    position = os.fstat(fd).st_size
    while position > 0:
        start = max(0, position - chunk)
        data = os.pread(fd, position - start, start)
        newline = data.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0
