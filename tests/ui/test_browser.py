"""The page in headless Chromium over the in-memory source: hostile strings stay text, no
request leaves the host, clicks open trials, the table filters, a growing study redraws
without a reload, and nothing logs a console error."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.ui.conftest import ServerThread, console_errors, drain_logs, study_ready, wait_for
from tests.ui.fake_source import FakeSource, FakeStudy, make_study

SCRIPT_CHOICE = '<script>window.__pwned = "choice"</script>'
ONERROR_CHOICE = '<img src=x onerror="window.__pwned = \'choice-img\'">'
REASON = ('<img src=x onerror="window.__pwned = \'reason\'; alert(1)">'
          '<script>window.__pwned = "reason-script"</script> exit 1')
HOSTILE_NAME = '<b onmouseover="window.__pwned=1">bold</b>'

TABS = ("trials", "parallel", "curves", "laws", "predict", "importance", "manifest")


@pytest.fixture(scope="module")
def source() -> FakeSource:
    hostile = make_study("hostile", 24, seed=2, name=HOSTILE_NAME,
                         choices=[SCRIPT_CHOICE, ONERROR_CHOICE], failure_reason=REASON,
                         logs=True)
    # Failed trials are drawn; make sure the hostile one has some.
    for _ in range(3):
        hostile.add_trial("Failed")
    empty = make_study("empty", 0, seed=4)
    return FakeSource([make_study("alpha", 60), make_study("beta", 40, seed=3), hostile, empty])


@pytest.fixture(scope="module")
def server(source: FakeSource) -> Iterator[ServerThread]:
    with ServerThread(source) as running:
        yield running


@pytest.fixture
def page(browser: Any, server: ServerThread) -> Iterator[Callable[[str], None]]:
    """Opens a route and waits until the page has drawn it; after the test, the browser's
    console holds no error and it asked no other host for anything."""
    drain_logs(browser)

    def open_route(route: str, ready: str | None = None) -> None:
        browser.get(server.url.rstrip("/") + route)
        wait_for(browser, ready or "document.body.dataset.page !== undefined")

    yield open_route
    console, urls = drain_logs(browser)
    assert console_errors(console) == []
    origin = urlsplit(server.url).netloc
    foreign = [u for u in urls if not u.startswith(("data:", "blob:", "about:"))
               and urlsplit(u).netloc != origin]
    assert foreign == []


def no_alert(browser: Any) -> None:
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018


def test_the_studies_list_shows_each_study(browser: Any, page: Callable[..., None],
                                           source: FakeSource) -> None:
    page("/#/", "document.body.dataset.page === 'studies'")
    rows = browser.find_elements(By.CSS_SELECTOR, "#studies tbody tr")
    assert [row.get_attribute("data-key") for row in rows] == list(source.by_key)
    alpha = rows[0].text
    summary = source.by_key["alpha"].summary()
    assert f"{summary['trials']['finished']} / 100 done" in alpha
    assert "Running" in alpha
    assert "SpecValid" in alpha


def test_hostile_strings_show_as_text_and_run_nothing(
        browser: Any, page: Callable[..., None], source: FakeSource) -> None:
    study = source.by_key["hostile"]
    page("/#/", "document.body.dataset.page === 'studies'")
    assert HOSTILE_NAME in browser.find_element(By.ID, "studies").text
    for tab in TABS:
        page(f"/#/study/hostile/{tab}", study_ready("hostile", tab))
        time.sleep(0.2)
    page("/#/study/hostile/manifest", study_ready("hostile", "manifest"))
    assert SCRIPT_CHOICE in browser.find_element(By.ID, "manifest").text
    # The table shows the choices and the reason as text.
    page("/#/study/hostile", study_ready("hostile"))
    table_text = browser.find_element(By.ID, "trials-table").text
    assert "<script>" in table_text
    assert "onerror=" in table_text
    injected = "return document.querySelectorAll('main img, main script, main [onerror]').length"
    assert browser.execute_script(injected) == 0
    # Hover a failed trial on the frontier plot: its tooltip shows the reason as text.
    failed = next(t for t in study.trials if t["phase"] == "Failed" and t["cost"])
    chart = browser.find_element(By.ID, "frontier-chart")
    rug = browser.execute_script(
        "const c = window.carbsUI.charts.frontier.chart;"
        "const d = c.getModel().getSeriesByName('failed')[0].getData();"
        "return c.convertToPixel({xAxisIndex: 0, yAxisIndex: 0}, [d.get('x', 0), d.get('y', 0)]);")
    size = chart.size
    ActionChains(browser).move_to_element_with_offset(
        chart, int(rug[0] - size["width"] / 2), int(rug[1] - size["height"] / 2)).perform()
    tip = wait_for(browser, "[...document.querySelectorAll('.tip-reason')]"
                            ".map(e => e.textContent).join('\\n')")
    assert "onerror=" in tip
    assert "<script>" in tip
    # The failed trial's page: reason and log lines as text.
    page(f"/#/study/hostile/trial/{failed['index']}", "document.body.dataset.page === 'trial'")
    assert browser.find_element(By.ID, "trial-reason").text == REASON
    assert REASON in browser.find_element(By.ID, "trial-log").text
    page("/#/compare/hostile,alpha", "document.body.dataset.page === 'compare'")
    no_alert(browser)
    assert browser.execute_script("return window.__pwned") is None
    assert browser.execute_script(
        "return document.querySelectorAll('img[src=x], b[onmouseover], main script').length") == 0


def test_every_tab_draws_without_errors(browser: Any, page: Callable[..., None]) -> None:
    for key in ("empty", "alpha"):  # a study with no trial yet, then a full one
        for tab in TABS:
            page(f"/#/study/{key}/{tab}", study_ready(key, tab))
    page("/#/study/alpha/laws", study_ready("alpha", "laws"))
    assert len(browser.find_elements(By.CSS_SELECTOR, ".law")) == 3
    assert browser.find_element(By.CSS_SELECTOR, ".law .verdict").text in (
        "law", "no law", "saturated", "too few trials")


def test_the_plotted_frontier_is_the_views(browser: Any, page: Callable[..., None],
                                           source: FakeSource) -> None:
    page("/#/study/alpha", study_ready("alpha"))
    frontier = source.view("alpha")["frontier"]
    assert browser.execute_script("return window.carbsUI.charts.frontier.frontier") == frontier
    rows = browser.find_elements(By.CSS_SELECTOR, "#frontier-table tbody tr")
    assert [int(r.get_attribute("data-index")) for r in rows] == frontier


def test_clicking_a_point_opens_its_trial(browser: Any, page: Callable[..., None],
                                          source: FakeSource) -> None:
    page("/#/study/alpha", study_ready("alpha"))
    target = source.view("alpha")["frontier"][2]
    chart = browser.find_element(By.ID, "frontier-chart")
    x, y = browser.execute_script(
        "return window.carbsUI.charts.frontier.pixel(arguments[0]);", target)
    size = chart.size
    ActionChains(browser).move_to_element_with_offset(
        chart, int(x - size["width"] / 2), int(y - size["height"] / 2)).click().perform()
    wait_for(browser, f"document.body.dataset.page === 'trial'"
                      f" && document.body.dataset.trial === '{target}'")
    assert browser.find_element(By.ID, "trial-title").text == f"Trial {target}"


def test_the_table_filters_by_phase_and_parameter(browser: Any, page: Callable[..., None],
                                                  source: FakeSource) -> None:
    page("/#/study/alpha", study_ready("alpha"))
    trials = source.view("alpha")["trials"]
    count = "return window.carbsUI.table.getDataCount('active')"
    assert browser.execute_script(count) == len(trials)
    width_filter = browser.find_elements(
        By.CSS_SELECTOR, "#trials-table .tabulator-col[tabulator-field='p:width'] input")[0]
    width_filter.send_keys(">1000")
    wide = sum(1 for t in trials if t["params"]["width"] > 1000)
    wait_for(browser, f"window.carbsUI.table.getDataCount('active') === {wide}")
    width_filter.send_keys(Keys.CONTROL, "a")
    width_filter.send_keys(Keys.DELETE)
    wait_for(browser, f"window.carbsUI.table.getDataCount('active') === {len(trials)}")
    browser.execute_script("window.carbsUI.table.setHeaderFilterValue('phase', 'Failed')")
    failed = sum(1 for t in trials if t["phase"] == "Failed")
    wait_for(browser, f"window.carbsUI.table.getDataCount('active') === {failed}")


def test_a_growing_study_redraws_without_a_reload(browser: Any, page: Callable[..., None],
                                                  source: FakeSource) -> None:
    study: FakeStudy = source.by_key["beta"]
    page("/#/study/beta", study_ready("beta"))
    browser.execute_script("window.__sameDocument = true")
    before = browser.execute_script("return window.carbsUI.view.trials")
    with source.lock:  # a new best at the dearest cost: the frontier moves
        study.add_trial("Succeeded", width=4096, lr=2e-4, optimizer="adam")
        study.trials[-1]["objective"] = 0.01
    revision = source.revision("beta")
    wait_for(browser, f"document.body.dataset.revision === '{revision}'", timeout=10)
    assert browser.execute_script("return window.__sameDocument") is True
    assert browser.execute_script("return window.carbsUI.view.trials") == before + 1
    assert browser.execute_script("return window.carbsUI.charts.frontier.frontier") == \
        source.view("beta")["frontier"]
    assert browser.execute_script("return window.carbsUI.table.getDataCount()") == before + 1


def test_prediction_at_a_typed_cost(browser: Any, page: Callable[..., None]) -> None:
    page("/#/study/alpha/predict", study_ready("alpha", "predict"))
    field = browser.find_element(By.ID, "predict-cost")
    field.clear()
    field.send_keys("1e15", Keys.ENTER)
    wait_for(browser, "document.querySelector('#predict-table')")
    text = browser.find_element(By.ID, "predict-result").text
    assert "At cost 1e15" in text
    assert "lr" in text
    field.clear()
    field.send_keys("lots", Keys.ENTER)
    wait_for(browser, "document.querySelector('#predict-result .error')")
    assert "positive finite number" in browser.find_element(By.ID, "predict-result").text
    # The 400 is the answer shown, not a console error of ours; drop its network log line.
    entries = browser.get_log("browser")
    assert all("400" in e["message"] for e in entries if e["level"] == "SEVERE")


def test_compare_draws_each_studys_frontier(browser: Any, page: Callable[..., None],
                                            source: FakeSource) -> None:
    page("/#/", "document.body.dataset.page === 'studies'")
    boxes = browser.find_elements(By.CSS_SELECTOR, "#studies tbody input[type=checkbox]")
    boxes[0].click()
    boxes[1].click()
    browser.find_element(By.CSS_SELECTOR, ".card-head .btn").click()
    wait_for(browser, "document.body.dataset.page === 'compare'")
    assert browser.execute_script("return window.carbsUI.charts.compare.frontiers") == [
        source.view("alpha")["frontier"], source.view("beta")["frontier"]]


def test_a_running_trials_page_follows_it_to_its_end(
        browser: Any, page: Callable[..., None], source: FakeSource) -> None:
    study = source.by_key["hostile"]
    running = next(t for t in study.trials if t["phase"] == "Running")
    page(f"/#/study/hostile/trial/{running['index']}", "document.body.dataset.page === 'trial'")
    browser.execute_script("window.__sameDocument = true")
    assert "Running" in browser.find_element(By.CSS_SELECTOR, ".study-head").text
    with source.lock:
        study.finish(running["index"], 0.5)
    wait_for(browser, f"document.body.dataset.revision === '{study.revision}'", timeout=10)
    assert "Succeeded" in browser.find_element(By.CSS_SELECTOR, ".study-head").text
    assert browser.execute_script("return window.__sameDocument") is True
    assert REASON in browser.find_element(By.ID, "trial-log").text
