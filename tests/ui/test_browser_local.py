"""The UI on a real local study: a real `carbs run` (subprocess trials reporting progress,
real SQLite state) read through LocalSource, watched in headless Chromium while it runs.
The page follows the run without a reload, shows the frontier `carbs frontier --json`
prints, and opens a trial from its point. The README's screenshots come from this study.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from carbs_operator.ui.local_source import LocalSource
from tests.local.conftest import HERE as LOCAL_TESTS
from tests.local.conftest import carbs_run
from tests.ui.conftest import ServerThread, console_errors, drain_logs, study_ready, wait_for

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "ui"
KEY = "curves"
OTHER = "curves-wide"
TRIALS = 14


def manifest(name: str = KEY, trials: int = TRIALS, steps_center: int = 6,
             seed: int = 0) -> dict[str, Any]:
    """Loss falls as 1/step toward a floor set by q; cost is the steps run (flops)."""
    return {
        "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy", "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "cost": {"metric": "flops"},
            "parameters": [
                {"name": "q", "space": "linear", "min": -1.0, "max": 1.0, "searchCenter": 0.0},
                {"name": "steps", "space": "log", "integer": True, "min": 2, "max": 40,
                 "searchCenter": steps_center},
                {"name": "act", "space": "categorical", "choices": ["relu", "gelu"],
                 "searchCenter": "relu"},
            ],
            "budget": {"maxTrials": trials},
            "parallelism": 2,
            "earlyStopping": {"rule": "Median", "minTrials": 4},
            "carbs": {"seed": seed},
            "trialTemplate": {"spec": {"template": {"spec": {"containers": [{
                "name": "trial", "image": "example/curves:1",
                "command": ["python", "progress_trial.py"],
                "args": ["--q=${params.q}", "--steps=${params.steps}", "--step-seconds=0.08",
                         "--fail-above=0.85"],
            }]}}}},
        },
    }


@dataclass
class LiveRun:
    """What the page showed while `carbs run` ran, and where the study lies."""

    study: Path
    state: Path
    server: ServerThread
    seen: list[dict[str, Any]] = field(default_factory=list)
    same_document: bool = False
    final_revision: str = ""


@pytest.fixture(scope="module")
def live(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """Starts `carbs run`, opens its study in the browser as soon as its state exists, and
    records what the page shows every half second until the run ends."""
    root = tmp_path_factory.mktemp("uistudy")
    shutil.copy(LOCAL_TESTS / "progress_trial.py", root / "progress_trial.py")
    study = root / "study.yaml"
    study.write_text(yaml.safe_dump(manifest(), sort_keys=False), encoding="utf-8")
    # A second study beside it (another center and seed) for the list and the compare view.
    other = root / "other.yaml"
    other.write_text(yaml.safe_dump(manifest(OTHER, 6, steps_center=16, seed=1),
                                    sort_keys=False), encoding="utf-8")
    state = root / "state"
    source = LocalSource([state])
    process = carbs_run(study, state, root / "trials.log")
    second = carbs_run(other, state, root / "other.log")
    try:
        with ServerThread(source) as server:
            run = LiveRun(study=study, state=state, server=server)
            drain_logs(browser)
            deadline = time.monotonic() + 60
            while not (state / f"{KEY}.db").exists() or not source.studies():
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the study's state never appeared"
                time.sleep(0.2)
            browser.get(server.url + f"#/study/{KEY}")
            wait_for(browser, study_ready(KEY), timeout=30)
            browser.execute_script("window.__sameDocument = true")
            while process.poll() is None:
                run.seen.append(browser.execute_script(
                    "return {revision: document.body.dataset.revision,"
                    " trials: window.carbsUI.view.trials, renders: window.carbsUI.renders}"))
                assert time.monotonic() < deadline + 180, "carbs run did not finish"
                time.sleep(0.5)
            assert process.returncode == 0, process.stderr.read() if process.stderr else ""
            assert second.wait(120) == 0, second.stderr.read() if second.stderr else ""
            run.final_revision = source.revision(KEY)
            wait_for(browser, f"document.body.dataset.revision === '{run.final_revision}'"
                              f" && window.carbsUI.view.trials === {TRIALS}", timeout=15)
            run.same_document = browser.execute_script("return window.__sameDocument === true")
            yield run
    finally:
        for started in (process, second):
            if started.poll() is None:
                started.kill()
            started.wait(30)
            if started.stderr:
                started.stderr.close()


@pytest.fixture
def clean_logs(browser: Any, live: LiveRun) -> Iterator[None]:
    """After the test: no console error, and no request to another host."""
    drain_logs(browser)
    yield
    console, urls = drain_logs(browser)
    assert console_errors(console) == []
    assert [u for u in urls if not u.startswith((live.server.url, "data:", "blob:"))] == []


def test_a_running_study_updates_without_a_reload(live: LiveRun) -> None:
    assert live.same_document, "the page reloaded"
    revisions = [s["revision"] for s in live.seen]
    counts = [s["trials"] for s in live.seen]
    assert len(set(revisions)) >= 3, revisions
    assert counts == sorted(counts)
    assert counts[0] < TRIALS
    assert live.seen[-1]["renders"] > live.seen[0]["renders"]


def test_the_frontier_shown_is_the_one_carbs_frontier_prints(
        browser: Any, live: LiveRun, clean_logs: None) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "carbs_operator.cli", "frontier", str(live.study),
         "--state-dir", str(live.state), "--json"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    printed = [point["index"] for point in json.loads(done.stdout)["frontier"]]
    assert printed
    browser.get(live.server.url + f"#/study/{KEY}")
    wait_for(browser, study_ready(KEY))
    assert browser.execute_script("return window.carbsUI.charts.frontier.frontier") == printed
    rows = browser.find_elements(By.CSS_SELECTOR, "#frontier-table tbody tr")
    assert [int(row.get_attribute("data-index")) for row in rows] == printed


def test_clicking_a_point_opens_its_trial(browser: Any, live: LiveRun, clean_logs: None) -> None:
    browser.get(live.server.url + f"#/study/{KEY}")
    wait_for(browser, study_ready(KEY))
    target = browser.execute_script("return window.carbsUI.charts.frontier.frontier")[-1]
    chart = browser.find_element(By.ID, "frontier-chart")
    x, y = browser.execute_script(
        "return window.carbsUI.charts.frontier.pixel(arguments[0]);", target)
    size = chart.size
    ActionChains(browser).move_to_element_with_offset(
        chart, int(x - size["width"] / 2), int(y - size["height"] / 2)).click().perform()
    wait_for(browser, f"document.body.dataset.trial === '{target}'")
    assert browser.find_element(By.ID, "trial-title").text == f"Trial {target}"
    params = browser.find_element(By.CSS_SELECTOR, "table.params").text
    for name in ("q", "steps", "act"):
        assert name in params
    assert browser.find_elements(By.ID, "trial-curve"), "progress was reported: a curve"


def test_screenshots_for_the_readme(browser: Any, live: LiveRun, clean_logs: None) -> None:
    """docs/ui/*.png from this run, at the session's fixed window size."""
    DOCS.mkdir(parents=True, exist_ok=True)
    url = live.server.url

    def shoot(name: str, route: str, ready: str, scroll_to: str | None = None) -> None:
        browser.get(url + route)
        wait_for(browser, ready)
        if scroll_to:
            browser.execute_script(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'});"
                "window.scrollBy(0, -56);", scroll_to)
        time.sleep(0.6)  # charts finish their first frame
        browser.save_screenshot(str(DOCS / name))

    shoot("studies.png", "#/", "document.body.dataset.page === 'studies'")
    shoot("study.png", f"#/study/{KEY}", study_ready(KEY))
    shoot("trials.png", f"#/study/{KEY}", study_ready(KEY), ".tabs")
    shoot("laws.png", f"#/study/{KEY}/laws", study_ready(KEY, "laws"), ".tabs")
    shoot("curves.png", f"#/study/{KEY}/curves", study_ready(KEY, "curves"), ".tabs")
    shoot("parallel.png", f"#/study/{KEY}/parallel", study_ready(KEY, "parallel"), ".tabs")
    shoot("compare.png", f"#/compare/{KEY},{OTHER}", "document.body.dataset.page === 'compare'")
    best = next(s for s in LocalSource([live.state]).studies() if s["key"] == KEY)["best"]
    best = best["trial"]
    shoot("trial.png", f"#/study/{KEY}/trial/{best}", "document.body.dataset.page === 'trial'")
    for name in ("studies", "study", "trials", "laws", "curves", "parallel", "compare", "trial"):
        assert (DOCS / f"{name}.png").stat().st_size > 10_000
