"""An answer held until its last row has been read: in memory while small, in a temporary file past SPOOL_BYTES.

A query's head says how many rows its answer has and whether the row cap cut it, and an
engine's answer is checked to its end before a byte of it is sent on, so a body cannot
start before the whole of it has been read. Held in memory, an answer costs its size and
more: under a row cap raised to a million, a 1M-row JSON answer (226 MB) took the embedded
server's processes 509 MB over idle (its rows held as terms) and a frontend 260 MB (the
engine's bytes). Past SPOOL_BYTES the held body goes to a file in the temporary directory
(TMPDIR), which goes away when the spool is closed: 80 and 25 MB (bench/bench_large_answer.py).
"""

from __future__ import annotations

import errno
import tempfile
from collections.abc import Iterator
from typing import IO

from kgserver.errors import UnavailableError

_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
SPOOL_BYTES = 4 << 20  # the response cache keeps answers up to this size too (config.cache_entry_bytes)


class Spool:
    """A binary file to write an answer into, then read back from the start, in chunks or as one file."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self.size = 0

    def write(self, data: bytes) -> int:
        """Hold `data` after what is held; a temporary directory with no room left is a 503, not an internal error."""
        try:
            self._file.write(data)
        except OSError as error:
            if error.errno not in _NO_ROOM:
                raise
            raise UnavailableError("the server has no room left in its temporary directory to hold this answer while "
                                   f"its rows are counted (answers past {SPOOL_BYTES >> 20} MB are held on disk); ask "
                                   "for fewer rows, or try again later") from None
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: what is written is read back by this process only."""

    def value(self) -> bytes:
        """Everything held, as one bytes object (for a small answer)."""
        self._file.seek(0)
        return self._file.read()

    def chunks(self, size: int) -> Iterator[bytes]:
        """Everything held, from the start, in chunks of at most `size` bytes."""
        self._file.seek(0)
        while chunk := self._file.read(size):
            yield chunk

    def reader(self) -> IO[bytes]:
        """The held bytes as a file read from the start (a parser reads the answer again from it)."""
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        """Let go of what is held; a file on disk is removed."""
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
