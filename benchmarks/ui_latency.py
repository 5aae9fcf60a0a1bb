"""The study UI on a 10,000-trial local study: how fast its data answers, and how soon the
page is usable (frontier plot and trials table drawn) in headless Chromium; beside
optuna-dashboard on a 10,000-trial Optuna study, where it is installed.

Ours: a real `carbs ui STATE_DIR` process over a SQLite state file of TRIALS finished trials
(written through TrialStore, as `carbs run` writes them). Timed from this process over
HTTP on 127.0.0.1:
- the study page's data (`GET /api/studies/KEY`, the view): cold (the first request after
  the server starts: read the state, fit frontier and laws, encode), then warm (the source's
  view cache holds it: encode and send), with and without gzip;
- a live poll (`/revision`) and a conditional re-fetch of the view (If-None-Match: a 304);
- the page: a fresh headless Chromium loads `/#/study/KEY`; `usable` is the page's own
  `performance.now()` when the frontier plot and the table were first drawn.

optuna-dashboard (`pip install optuna-dashboard`): `optuna-dashboard sqlite:///...` over an
RDB study of the same number of trials; its study-detail API
(`/api/studies/ID?after=0`) cold and warm, and its page until its first plot is drawn.

    .venv/bin/python -m benchmarks.ui_latency [--trials 10000] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from carbs_operator.local.store import TrialStore
from carbs_operator.models import TrialPhase
from carbs_operator.study import TrialRecord
from carbs_operator.validation import load_study

RESULTS = Path(__file__).parent / "results" / "ui_latency.json"
KEY = "big"
# Both UIs read their SQLite files from memory (tmpfs) where there is one: building 10,000
# Optuna trials costs an fsync per trial on disk (minutes), and reads come from the page
# cache either way. (mkdtemp makes a private directory there.)
TMPFS = "/dev/shm"  # noqa: S108
SCRATCH = TMPFS if os.path.isdir(TMPFS) else None


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, int, float]:
    """(status, bytes on the wire, seconds) of one GET, body read to the end."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - 127.0.0.1
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:  # noqa: S310
            body = answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:  # a 304 arrives as an HTTPError
        body, status = error.read(), error.code
    return status, len(body), time.perf_counter() - began


def _wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=5).read()  # noqa: S310
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {"median_ms": round(statistics.median(ms), 1),
            "p90_ms": round(ms[min(len(ms) - 1, math.ceil(0.9 * len(ms)) - 1)], 1),
            "min_ms": round(ms[0], 1), "runs": len(ms)}


def _loss(lr: float, x: float, size: float, opt: str, rng: random.Random) -> float:
    return ((math.log10(lr) + 2) ** 2 + (x - 0.3) ** 2 + 10 / size
            + (0.05 if opt == "sgd" else 0.0) + rng.gauss(0, 0.01))


def build_state(root: Path, trials: int) -> Path:
    """A state directory holding one study of `trials` finished trials (5% failed)."""
    manifest = {
        "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy", "metadata": {"name": KEY},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "cost": {"metric": "flops"},
            "parameters": [
                {"name": "lr", "space": "log", "min": 1e-4, "max": 1.0, "searchCenter": 1e-3},
                {"name": "x", "space": "linear", "min": -1.0, "max": 1.0, "searchCenter": 0.0},
                {"name": "size", "space": "log", "min": 1, "max": 100000, "integer": True,
                 "searchCenter": 10},
                {"name": "opt", "space": "categorical", "choices": ["adam", "sgd"],
                 "searchCenter": "adam"},
            ],
            "budget": {"maxTrials": trials},
            "trialTemplate": {"spec": {"template": {"spec": {"containers": [{
                "name": "t", "image": "x", "command": ["true"]}]}}}},
        },
    }
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    spec = load_study(path).spec
    state = root / "state"
    rng = random.Random(0)
    store = TrialStore(state / f"{KEY}.db")
    # One fsync per write would make building 20,000 writes take minutes: this throwaway
    # file is written without them (the files `carbs run` writes keep synchronous=FULL).
    store._db.execute("PRAGMA synchronous=OFF")
    store.bind_study(KEY, spec)
    now = time.time() - trials
    for index in range(trials):
        lr, x = 10 ** rng.uniform(-4, 0), rng.uniform(-1, 1)
        size, opt = round(10 ** rng.uniform(0, 5)), rng.choice(["adam", "sgd"])
        store.insert(TrialRecord(index=index, params={"lr": lr, "x": x, "size": size,
                                                       "opt": opt},
                                 phase=TrialPhase.PENDING, created_at=now + index))
        if rng.random() < 0.05:
            store.finish(index, TrialPhase.FAILED, failure_reason="exit code 1",
                         started_at=now + index, finished_at=now + index + 0.5)
        else:
            loss = _loss(lr, x, size, opt, rng)
            store.finish(index, TrialPhase.SUCCEEDED, metrics={"loss": loss, "flops": size},
                         objective=loss, cost=float(size), started_at=now + index,
                         finished_at=now + index + 0.5)
    store.close()
    return state


def page_usable_ms(url: str, ready: str, timeout: float = 120) -> float:
    """A fresh headless Chromium opens `url`; milliseconds (the page's performance.now())
    until the JavaScript expression `ready` returns a number."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.ui.conftest import CHROMEDRIVER, _chrome_options

    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=_chrome_options())
    try:
        driver.get(url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = driver.execute_script(f"return ({ready});")
            if isinstance(value, int | float) and value > 0:
                return float(value)
            time.sleep(0.02)
        raise RuntimeError(f"{url}: not usable within {timeout} s")
    finally:
        driver.quit()


def measure_ours(trials: int, repeats: int, browsers: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="ui-latency-", dir=SCRATCH))
    try:
        began = time.perf_counter()
        state = build_state(root, trials)
        built = time.perf_counter() - began
        port = _port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        server = subprocess.Popen(
            [sys.executable, "-m", "carbs_operator.cli", "ui", str(state), "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_up(base + "/healthz", server)
            view = f"{base}/api/studies/{KEY}"
            _, size_cold, cold = _get(view)
            warm = [_get(view)[2] for _ in range(repeats)]
            gz = [_get(view, {"Accept-Encoding": "gzip"}) for _ in range(repeats)]
            etag = urllib.request.urlopen(view).headers["ETag"]  # noqa: S310
            polls = [_get(f"{view}/revision")[2] for _ in range(repeats)]
            not_modified = [_get(view, {"If-None-Match": etag}) for _ in range(repeats)]
            studies = [_get(f"{base}/api/studies")[2] for _ in range(repeats)]
            curves = [_get(f"{view}/curves")[2] for _ in range(3)]
            importance = [_get(f"{view}/importance")[2] for _ in range(3)]
            usable = [page_usable_ms(f"{base}/#/study/{KEY}", "window.carbsUI"
                                     " && window.carbsUI.readyAt") for _ in range(browsers)]
        finally:
            server.terminate()
            server.wait(30)
        return {
            "trials": trials, "state_built_s": round(built, 1),
            "view_bytes": size_cold, "view_gzip_bytes": gz[0][1],
            "view_cold_ms": round(cold * 1000, 1),
            "view_warm": _stats(warm), "view_warm_gzip": _stats([g[2] for g in gz]),
            "revision_poll": _stats(polls),
            "view_304": _stats([n[2] for n in not_modified]),
            "status_304": sorted({n[0] for n in not_modified}),
            "studies_list": _stats(studies), "curves": _stats(curves),
            "importance": _stats(importance),
            "page_usable_ms": [round(u) for u in usable],
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure_optuna_dashboard(trials: int, repeats: int, browsers: int) -> dict[str, Any]:
    try:
        import optuna
        import optuna_dashboard  # type: ignore[import-untyped]
    except ImportError as error:
        return {"skipped": f"not installed: {error}"}
    root = Path(tempfile.mkdtemp(prefix="ui-latency-optuna-", dir=SCRATCH))
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage_url = f"sqlite:///{root / 'optuna.db'}"
        began = time.perf_counter()
        study = optuna.create_study(study_name=KEY, storage=storage_url, direction="minimize")
        rng = random.Random(0)
        dists = {"lr": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
                 "x": optuna.distributions.FloatDistribution(-1.0, 1.0),
                 "size": optuna.distributions.IntDistribution(1, 100000, log=True),
                 "opt": optuna.distributions.CategoricalDistribution(["adam", "sgd"])}
        batch = []
        for _ in range(trials):
            lr, x = 10 ** rng.uniform(-4, 0), rng.uniform(-1, 1)
            size, opt = round(10 ** rng.uniform(0, 5)), rng.choice(["adam", "sgd"])
            params: dict[str, Any] = {"lr": lr, "x": x, "size": size, "opt": opt}
            failed = rng.random() < 0.05
            batch.append(optuna.trial.create_trial(
                params=params, distributions=dists,
                state=optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE,
                value=None if failed else _loss(lr, x, size, opt, rng),
                user_attrs={"flops": size}))
        study.add_trials(batch)
        built = time.perf_counter() - began
        port = _port()
        base = f"http://127.0.0.1:{port}"
        dashboard = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
        command = ([dashboard] if dashboard else [sys.executable, "-m", "optuna_dashboard"])
        server = subprocess.Popen(
            [*command, storage_url, "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_up(base + "/api/studies", server)
            study_id = study._study_id
            detail = f"{base}/api/studies/{study_id}?after=0"
            _, size_cold, cold = _get(detail)
            warm = [_get(detail)[2] for _ in range(repeats)]
            # Usable: the history plot (plotly) has drawn its points.
            usable = [page_usable_ms(f"{base}/dashboard/studies/{study_id}",
                                     "document.querySelector('.js-plotly-plot .scatterlayer"
                                     " .point') ? performance.now() : 0")
                      for _ in range(browsers)]
        finally:
            server.terminate()
            server.wait(30)
        return {"version": optuna_dashboard.__version__, "optuna": optuna.__version__,
                "trials": trials, "study_built_s": round(built, 1),
                "detail_bytes": size_cold, "detail_cold_ms": round(cold * 1000, 1),
                "detail_warm": _stats(warm), "page_usable_ms": [round(u) for u in usable]}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--browsers", type=int, default=3, help="fresh page loads per UI")
    parser.add_argument("--skip-optuna", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_1min": round(os.getloadavg()[0], 2)},
        "ours": measure_ours(args.trials, args.repeats, args.browsers),
    }
    if not args.skip_optuna:
        result["optuna_dashboard"] = measure_optuna_dashboard(args.trials, args.repeats,
                                                              args.browsers)
    result["machine"]["load_1min_after"] = round(os.getloadavg()[0], 2)
    out = RESULTS if args.trials == 10_000 else RESULTS.with_suffix(f".{args.trials}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
