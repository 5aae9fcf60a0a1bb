"""The process that runs one local trial: `python -m carbs_operator.local.launcher TRIAL_DIR`.

Why a launcher between `carbs run` and the training command: it outlives a killed runner
and leaves on disk everything a restarted runner needs to adopt the trial instead of running
it twice. The runner takes an exclusive flock on TRIAL_DIR/lock before starting the
launcher and hands the descriptor down, so the lock is held from before the launch until
the launcher exits. The launcher then writes, atomically:

- started.json when it begins (the trial did start, whatever happens next);
- command.json once the command runs: its pid, which is its process group's id, so a runner
  can end the command itself should this launcher be gone;
- exit.json when the command ends: return code, timeout or interruption, wall time.

SIGTERM or SIGINT to the launcher ends the command: SIGTERM to its process group, then
SIGKILL after launch.json's `grace_seconds` (default GRACE_SECONDS).

The command runs without a shell, with its own stdout/stderr in TRIAL_DIR/output.log, and
inherits the lock descriptor too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

LAUNCH_FILE = "launch.json"
STARTED_FILE = "started.json"
EXIT_FILE = "exit.json"
RESULT_FILE = "result.json"
LOG_FILE = "output.log"
LOCK_FILE = "lock"
COMMAND_FILE = "command.json"
GRACE_SECONDS = 10.0


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, a grace period for checkpoints, then SIGKILL; the whole process group."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(trial_dir: Path) -> int:
    launch = json.loads((trial_dir / LAUNCH_FILE).read_text(encoding="utf-8"))
    command: list[str] = launch["command"]
    deadline: float | None = launch.get("timeout_seconds")
    grace = float(launch.get("grace_seconds", GRACE_SECONDS))
    started_at = time.time()
    write_json_atomically(trial_dir / STARTED_FILE, {"pid": os.getpid(), "started_at": started_at})
    interrupted: list[int] = []
    # The command holds the trial lock too, so a runner restarted after this launcher was
    # killed still sees the trial running, and waits for it instead of starting another.
    lock_fd = launch.get("lock_fd")
    inherited = (lock_fd,) if isinstance(lock_fd, int) else ()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        interrupted.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    began = time.monotonic()
    outcome: dict[str, Any] = {"started_at": started_at}
    with open(trial_dir / LOG_FILE, "ab") as log:
        try:
            process = subprocess.Popen(  # noqa: S603 - argv list from the manifest, no shell
                command, cwd=launch["cwd"], env=launch["env"], stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                pass_fds=inherited,
            )
        except OSError as error:
            outcome.update(returncode=None, error=f"could not start {command[0]!r}: {error}")
        else:
            write_json_atomically(trial_dir / COMMAND_FILE, {"pid": process.pid})
            timed_out = False
            while process.poll() is None:
                if interrupted:
                    _stop(process, grace)
                    break
                if deadline is not None and time.monotonic() - began > deadline:
                    timed_out = True
                    _stop(process, grace)
                    break
                time.sleep(0.05)
            outcome.update(
                returncode=process.wait(), timed_out=timed_out, interrupted=bool(interrupted)
            )
    outcome["finished_at"] = time.time()
    outcome["runtime_seconds"] = time.monotonic() - began
    write_json_atomically(trial_dir / EXIT_FILE, outcome)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m carbs_operator.local.launcher TRIAL_DIR", file=sys.stderr)
        return 2
    return run(Path(args[0]))


if __name__ == "__main__":
    raise SystemExit(main())
