"""Open a rendered page in real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"


@dataclass(frozen=True)
class PageCheck:
    title: str
    errors: list[str]
    present: dict[str, int]
    screenshot: Path


def open_in_chromium(page_path: Path, name: str, selectors: tuple[str, ...]) -> PageCheck:
    # A missing browser fails: a skipped report check reads as a passing one.
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it as root; "
                    "otherwise install it with: sudo apt-get install chromium")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"{name}.png"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1300})
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(page_path.resolve().as_uri())
            present = {sel: page.locator(sel).count() for sel in selectors}
            title = page.title()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return PageCheck(title, errors, present, shot)


def check_report(run_dir: Path, name: str) -> PageCheck:
    """The report opens with no console error, with its verdict, chart and gap table."""
    check = open_in_chromium(run_dir / "report.html", name,
                             ("#verdict", "#timeline-chart polyline", "#gap-table", "#key-times", "#steps",
                              "#commands"))
    assert check.errors == []
    assert check.present["#verdict"] == 1 and check.present["#gap-table"] == 1 and check.present["#commands"] == 1
    assert check.present["#timeline-chart polyline"] >= 2
    assert check.screenshot.stat().st_size > 10_000
    return check
