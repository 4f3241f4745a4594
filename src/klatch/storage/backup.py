"""A consistent copy of a SQLite database while the server runs: SQLite's online
backup API, read on one snapshot (WAL lets the server keep writing meanwhile)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


def backup_sqlite(source: Path, target: Path) -> int:
    """Copy ``source`` to ``target`` (which must not exist); the bytes written.

    The copy is made in one step, so it is one snapshot: in steps, every write the
    server commits meanwhile would restart the copy, and under steady writes it
    might never finish. It is checked (``quick_check``), synced and only then
    renamed into place, so ``target`` is either a whole database or absent."""
    if not source.is_file():
        raise FileNotFoundError(f"no SQLite database at {source}")
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new file")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=10.0)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        raise sqlite3.DatabaseError(f"the copy failed its check: {verdict}")
    _fsync(partial)
    partial.rename(target)
    _fsync(target.parent)
    return target.stat().st_size


def _fsync(path: Path) -> None:
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
