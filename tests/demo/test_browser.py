"""A real browser (Debian chromium, driven by Playwright) uploads a full-size X-ray and sees the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import ARTIFACTS

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; .ci/run installs it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)")


def test_upload_shows_label_and_heatmap(demo_url, example_xrays):
    from playwright.sync_api import expect, sync_playwright

    xray = next(p for p in example_xrays if p.name.startswith("bacterial"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(demo_url)
            expect(page.locator("#model-card")).to_contain_text("Not a diagnostic device", timeout=30_000)
            page.locator("#upload input[type=file]").set_input_files(str(xray))
            page.locator("#analyse").click()
            expect(page.locator("#summary")).to_contain_text("Decision:", timeout=30_000)
            expect(page.locator("#label")).to_contain_text("PNEUMONIA")
            expect(page.locator("#overlay img")).to_be_visible(timeout=30_000)
            expect(page.locator("#method")).to_contain_text("Map drawn by")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "demo-browser.png"), full_page=True)
        finally:
            browser.close()
