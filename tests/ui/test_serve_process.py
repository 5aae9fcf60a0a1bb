"""`serve()` as `carbs ui` runs it: a blocking process that prints its URL, binds 127.0.0.1
by default, and stops cleanly (exit 0) on SIGINT and on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
    "from carbs_operator.ui.server import serve;"
    "from tests.ui.fake_source import FakeSource, make_study;"
    "serve(FakeSource([make_study('alpha', 5)]), port=0)"
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_its_url_and_stops_cleanly(signum: signal.Signals) -> None:
    process = subprocess.Popen([sys.executable, "-c", SERVE], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("carbs ui: serving on http://127.0.0.1:"), line
        url = line.split()[4]
        with urllib.request.urlopen(url + "api/studies", timeout=10) as answer:  # noqa: S310
            assert answer.status == 200
        process.send_signal(signum)
        assert process.wait(15) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
