"""A real browser (Playwright driving Debian's chromium) and a page visitor that fails on any
console error, a JavaScript alert or a missing chart, and saves a screenshot of what it saw."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from orchestrator.config import load_settings
from orchestrator.storage import session_scope
from tests.dashboards.history import Farm

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "dashboards"

# Every chart's number of plotted values (x / z entries over its traces), by div id.
_POINTS_JS = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(
  d => [d.id, d.data.reduce((n, t) => n + ((t.z || t.x || t.y || []).flat()
                                          .filter(v => v !== null && v !== '').length), 0)]))"""
_TRACES_JS = """() => Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(
  d => [d.id, d.data.map(t => t.type || 'scatter')]))"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@dataclass
class Visit:
    page: Page
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def points(self) -> dict[str, int]:
        return self.page.evaluate(_POINTS_JS)  # type: ignore[no-any-return]

    def trace_types(self) -> dict[str, list[str]]:
        return self.page.evaluate(_TRACES_JS)  # type: ignore[no-any-return]

    def text(self) -> str:
        return self.page.inner_text("body")

    def svg_text(self) -> str:
        """Every text Plotly drew (titles, ticks, legends, cell labels)."""
        return "\n".join(self.page.locator("svg text").all_text_contents())


class Visitor:
    def __init__(self, browser: Browser, shots: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1300, "height": 900})
        self.shots = shots

    def open(self, url: str, shot: str) -> Visit:
        page = self.context.new_page()
        visit = Visit(page)
        page.on("console", lambda m: visit.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: visit.errors.append(str(e)))

        def on_dialog(dialog: Any) -> None:
            visit.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.goto(url)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # Plotly draws after load
        self.shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(self.shots / f"{shot}.png"), full_page=True)
        assert not visit.errors, (url, visit.errors)
        assert not visit.dialogs, (url, visit.dialogs)
        return visit


@pytest.fixture
def visitor(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Visitor]:
    visitor = Visitor(browser, SHOTS / re.sub(r"[^\w.-]+", "_", request.node.name))
    yield visitor
    visitor.context.close()


@pytest.fixture
def farm_db(farm_db_env: dict[str, str]) -> Iterator[Farm]:
    """History inserted through the ORM into the test's database (committed at the end of the
    ``with`` in each test: use ``farm.db.commit()``)."""
    with session_scope(load_settings()) as db:
        yield Farm(db)
