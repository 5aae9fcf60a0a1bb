"""The UI on a cluster: `carbs ui --cluster`'s source (list + watch) over the API emulator,
with the real operator (real kopf) running the study; watched in headless Chromium.
Simulated (cannot run here): the Job controller and kubelet (tests/support/kubelet.py).

The page follows the operator's study without a reload, shows the frontier its status
names, and a trial's page shows its pod's log tail as text, a line with markup included.
Selenium blocks, and the emulator and the operator live on this test's event loop: every
browser call runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from carbs_operator.ui.cluster_source import ClusterSource, study_key
from tests.k8s.conftest import carbs_operator, get_study, objective, study
from tests.support.emulator import Cluster
from tests.support.fixtures import cluster, kubelet  # noqa: F401 - fixtures, by name
from tests.support.kubelet import SimulatedKubelet, Streamed
from tests.support.ui_sources import cluster_source, until
from tests.ui.conftest import ServerThread, console_errors, drain_logs, study_ready, wait_for

HOSTILE_LOG = '<img src=x onerror="window.__pwned = 1"> size'
KEY = study_key("default", "quad")


@pytest.fixture
async def source(cluster: Cluster) -> AsyncIterator[ClusterSource]:  # noqa: F811
    async with cluster_source(cluster.api_client()) as found:
        yield found


async def test_the_page_follows_the_operators_study(
    browser: Any, cluster: Cluster, kubelet: SimulatedKubelet,  # noqa: F811
    source: ClusterSource,
) -> None:
    def logged(params: dict[str, float]) -> Streamed:
        return Streamed([(0.0, f"{HOSTILE_LOG}={params['size']}\n")], objective(params))

    kubelet.objective = logged
    await cluster.create(study(budget={"maxTrials": 6, "maxFailedTrials": 3}))
    with ServerThread(source) as server:
        await asyncio.to_thread(drain_logs, browser)
        async with carbs_operator(cluster):
            await until(lambda: any(s["key"] == KEY for s in source.studies()))
            await asyncio.to_thread(browser.get, server.url + f"#/study/{KEY}")
            await asyncio.to_thread(wait_for, browser, study_ready(KEY), 30)
            await asyncio.to_thread(browser.execute_script, "window.__sameDocument = true")
            first = await asyncio.to_thread(
                browser.execute_script, "return window.carbsUI.view.trials")
            await until(lambda: next((s for s in source.studies() if s["key"] == KEY
                                       and s["phase"] == "Succeeded"), None))
        revision = await asyncio.to_thread(source.revision, KEY)
        await asyncio.to_thread(
            wait_for, browser, f"document.body.dataset.revision === '{revision}'", 15)
        run = browser.execute_script
        assert await asyncio.to_thread(run, "return window.__sameDocument") is True
        assert first < 6
        assert await asyncio.to_thread(run, "return window.carbsUI.view.trials") == 6
        obj = await get_study(cluster)
        plotted = await asyncio.to_thread(run, "return window.carbsUI.charts.frontier.frontier")
        assert [f"quad-{i}" for i in plotted] == [p["trial"] for p in
                                                  obj["status"]["paretoFrontier"]]
        assert "Succeeded" in await asyncio.to_thread(
            lambda: browser.find_element(By.CSS_SELECTOR, ".study-head").text)

        index = plotted[0]
        await asyncio.to_thread(browser.get, server.url + f"#/study/{KEY}/trial/{index}")
        await asyncio.to_thread(
            wait_for, browser, f"document.body.dataset.trial === '{index}'", 30)
        log = await asyncio.to_thread(lambda: browser.find_element(By.ID, "trial-log").text)
        assert HOSTILE_LOG in log
        assert await asyncio.to_thread(run, "return window.__pwned") is None
        assert await asyncio.to_thread(
            run, "return document.querySelectorAll('main img').length") == 0
        console, urls = await asyncio.to_thread(drain_logs, browser)
        assert console_errors(console) == []
        assert [u for u in urls if not u.startswith((server.url, "data:", "blob:"))] == []
