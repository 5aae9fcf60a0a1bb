"""The README's example pasted into Python's own interactive prompt (`python`, not IPython),
as the README tells a new user to: the prompt keeps no source, so tune() reads the function
back from readline's history (shipping._typed_source). Real: a Python REPL on a pty."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.tuning.test_readme_example import readme_example

pytest.importorskip("readline")


def test_the_readme_example_pasted_at_the_python_prompt_runs(tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: a plain interactive interpreter in a fresh folder
        os.chdir(tmp_path)
        os.environ["OMP_NUM_THREADS"] = "1"
        os.execv(sys.executable, [sys.executable, "-q"])  # noqa: S606 - our interpreter
    output = b""

    def read(seconds: float) -> None:
        nonlocal output
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    return

    try:
        for line in readme_example().splitlines():
            os.write(fd, line.encode() + b"\n")
            read(0.05)
        os.write(fd, b"\nprint('RESULT', len(result.records), result.best is not None)\n")
        deadline = time.monotonic() + 300
        while b"RESULT 8 True" not in output and time.monotonic() < deadline:
            read(0.5)
        assert b"RESULT 8 True" in output, output.decode(errors="replace")[-3000:]
        assert b"Traceback" not in output, output.decode(errors="replace")[-3000:]
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
