"""Atomic Parquet files: readers of a directory see a whole file or none, never a half-written one.

The file is written to a hidden temporary in the same directory, flushed to disk, then renamed over its final
name (``os.replace`` is atomic on POSIX and Windows); the directory is synced so the rename itself survives a
crash. Backfill partitions and feature-log files are both written this way.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl


def write_parquet_atomically(frame: pl.DataFrame, file: Path, temporary: Path,
                             metadata: dict[str, str] | None = None) -> None:
    """Write ``frame`` to ``file`` through ``temporary`` (same directory; removed if anything fails)."""
    try:
        with open(temporary, "wb") as handle:
            frame.write_parquet(handle, metadata=metadata)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, file)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(file.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX: a directory's entries are flushed by fsync on the directory)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
