"""Files written whole or not at all: a temp file beside the target, then `os.replace`.

A crash, Ctrl-C or a full disk mid-write leaves the previous file as it was and no temp file behind.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path in `path`'s folder to write to; it replaces `path` on success and is removed on failure.

    The temp file is created with mode 0600 (`mkstemp`), so what the tool writes is readable by you alone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(frame, path: str | Path, **to_csv) -> None:
    """A data frame's CSV (`frame.to_csv(..., index=False, **to_csv)`), whole or not at all, 0600."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, **to_csv)
