"""Browser fixtures: the UI server in a thread on 127.0.0.1, and one headless Chromium
(Debian's chromium + chromium-driver, through Selenium) for the whole session."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from carbs_operator.ui.server import RunningServer, start
from carbs_operator.ui.source import StudySource

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WINDOW = (1400, 1000)


class ServerThread:
    """The real server (server.start) on its own event loop in a daemon thread."""

    def __init__(self, source: StudySource) -> None:
        self.source = source
        self.loop = asyncio.new_event_loop()
        self.running: RunningServer | None = None
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="carbs-ui-test", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.running = self.loop.run_until_complete(start(self.source, "127.0.0.1", 0))
        except BaseException as error:
            self.error = error
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.running.stop())
        self.loop.close()

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.ready.wait(30)
        if self.error is not None:
            raise self.error
        return self

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.url

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def _chrome_options() -> Any:
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars",
                 "--force-device-scale-factor=1", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync",
                 "--no-first-run", "--disable-extensions", "--lang=en-US",
                 "--font-render-hinting=none"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return options


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (starting one costs seconds on 2 cores)."""
    if not shutil.which(CHROMIUM) or not shutil.which(CHROMEDRIVER):
        pytest.fail("chromium and chromium-driver are needed (make system-tools installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=_chrome_options())
    driver.set_window_size(*WINDOW)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def drain_logs(driver: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The browser's console entries and the URLs it requested since the last call."""
    console = driver.get_log("browser")
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return console, urls


def console_errors(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["message"] for entry in entries if entry.get("level") == "SEVERE"]


def wait_for(browser: Any, script: str, timeout: float = 15.0) -> Any:
    """Polls a JavaScript expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = browser.execute_script(f"return ({script});")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.1)


def study_ready(key: str, tab: str = "trials") -> str:
    return (f"document.body.dataset.page === 'study' && document.body.dataset.tab === '{tab}'"
            f" && window.carbsUI.view && window.carbsUI.view.key === '{key}'")
