"""`carbs operator` as a real process against the emulator, as a user starts it.

It finds the emulator through ``KUBECONFIG`` (kopf's own kubeconfig login and the
kubernetes client read it), and writes everything it prints, stdout and stderr, to one log
file the test reads: what ``kubectl logs`` of the operator pod would show.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.emulator import Cluster


class CarbsOperator:
    """``carbs operator ARGS`` in a subprocess for the duration of a ``with`` block."""

    def __init__(self, cluster: Cluster, directory: Path, args: Sequence[str]) -> None:
        self.kubeconfig = cluster.kubeconfig(directory / "kubeconfig")
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        self.command = [sys.executable, "-m", "carbs_operator.cli", "operator", *args]
        self.log = directory / "operator.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=output,
                                            stderr=subprocess.STDOUT)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> int | None:
        """SIGTERM (kopf stops gracefully), SIGKILL if it has not within 20 s."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
