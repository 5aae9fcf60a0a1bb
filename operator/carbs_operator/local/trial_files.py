"""A local trial's folder as its launcher leaves it: the lock held while it runs, and its
files read without trusting their bytes (a trial's odd output fails that trial, never the
runner)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from carbs_operator.collectors import output_too_long
from carbs_operator.local import launcher as files


def lock_is_held(directory: Path) -> bool:
    """True while a launcher (or the command it runs) holds the trial's lock."""
    path = directory / files.LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_text(path: Path) -> str | None:
    # The trial writes its result file and output log: bytes that are not UTF-8 must fail
    # that trial (as a malformed result), not raise here and stop every `carbs run`.
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def output_text(directory: Path) -> tuple[str | None, str | None]:
    """The trial's output.log for a StdOut collector, read only when its size is bounded:
    (text, None), or (None, why it cannot be read)."""
    path = directory / files.LOG_FILE
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None, "no output: the trial's output.log is missing"
    too_long = output_too_long(size)
    return (None, too_long) if too_long else (read_text(path), None)


def last_output_line(directory: Path) -> str:
    text = read_text(directory / files.LOG_FILE) or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f": {lines[-1][:300]}" if lines else ""
