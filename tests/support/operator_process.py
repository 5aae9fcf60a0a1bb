"""`carbs operator` as a real process against the emulator, as a user starts it.

It finds the emulator through ``KUBECONFIG`` (kopf's own kubeconfig login and the
kubernetes client read it), and writes everything it prints, stdout and stderr, to one log
file the test reads: what ``kubectl logs`` of the operator pod would show.

The emulator answers from the test's own event loop, so the test must never block that
loop while the operator is alive: stopping waits for the process in a thread. (A blocking
wait once held every SIGTERM for 20 s: the operator's last API call could not be answered,
and Python's exit waits for the thread making it.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.emulator import Cluster

#: How long a SIGTERMed operator may take to stop before it is SIGKILLed: kopf stops its
#: handlers and our thread pool finishes the calls in flight.
GRACE_SECONDS = 20.0


class CarbsOperator:
    """``carbs operator ARGS`` in a subprocess; ``async with`` runs it for the block."""

    def __init__(self, cluster: Cluster, directory: Path, args: Sequence[str]) -> None:
        self.kubeconfig = cluster.kubeconfig(directory / "kubeconfig")
        self.env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        self.command = [sys.executable, "-m", "carbs_operator.cli", "operator", *args]
        self.log = directory / "operator.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=output,
                                            stderr=subprocess.STDOUT)
        self.starts += 1
        return self.process

    def kill9(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    async def stop(self) -> int | None:
        """SIGTERM (kopf stops gracefully), SIGKILL if it has not within GRACE_SECONDS."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        return process.returncode

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, characters: int = 3000) -> str:
        return self.output()[-characters:]
