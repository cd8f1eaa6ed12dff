"""Headless Chromium: the year told (`/rapport/public`) at 360 and 1280 px, axe clean, no
page wider than the viewport; printed, one establishment per A4 page (issue 27)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser

from tests.browser.test_chart_browser import imported_history
from tests.browser.test_console_browser import axe_violations
from tests.conftest import file_report

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("backend", ["sqlite"])]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"public_barometer": True}


@pytest.mark.parametrize("width", [360, 1280])
def test_the_public_report_reads_at_every_width(
    app: Flask, live_server: str, browser: Browser, width: int, tmp_path: Any
) -> None:
    imported_history("haren", 2)
    file_report(conditions=("SEC-01", "ACC-01"))
    page = browser.new_context(
        viewport={"width": width, "height": 900}, locale="fr-BE", bypass_csp=True
    ).new_page()
    response = page.goto(f"{live_server}/rapport/public")
    assert response is not None and response.status == 200
    assert page.locator("svg.uptime").count() >= 2
    assert page.locator("svg.uptime rect.stretch").count() >= 2
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert axe_violations(page) == []
    page.screenshot(path=str(tmp_path / f"rapport-{width}.png"), full_page=True)
    pdf = page.pdf(format="A4")
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    # The overview, then one page per establishment (at least).
    assert pages >= 1 + page.locator("section.report-establishment").count()
