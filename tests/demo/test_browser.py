"""A real browser (Debian chromium, driven by Playwright) at 1280x800, as a clinician would use the page.

For a pneumonia film, a normal film and a photo: the decision word leads (the largest text on the
page), everything needed is on one screen without scrolling, and the map follows the decision.
Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pneumo.demo.overlay import map_peak
from pneumo_runtime.predictor import Predictor

from .conftest import ARTIFACTS

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; .ci/run installs it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)")

# The font size of the decision word against the largest font of any other visible text on the page.
FONT_SIZES_JS = """() => {
    const word = document.querySelector('#headline .pneumo-decision-word');
    let other = 0, otherText = '';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode, element = node.parentElement;
        if (!node.textContent.trim() || !element || word.contains(element)) continue;
        const box = element.getBoundingClientRect(), style = getComputedStyle(element);
        if (box.width === 0 || box.height === 0 || style.visibility === 'hidden' || element.closest('[hidden]')) continue;
        const size = parseFloat(style.fontSize);
        if (size > other) { other = size; otherText = node.textContent.trim().slice(0, 60); }
    }
    return {word: parseFloat(getComputedStyle(word).fontSize), other, otherText};
}"""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def films(fullres_images) -> dict[str, Path]:
    return {"pneumonia": next(p for p in fullres_images if "bacteria" in p.name),
            "normal": next(p for p in fullres_images if "NORMAL" in p.name)}


@pytest.fixture(scope="module")
def photo_jpeg(tmp_path_factory) -> Path:
    """A colour photo-like picture (noise over gradients), saved as JPEG: not an X-ray."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:600, 0:800]
    image = np.stack([x * 255 // 800, y * 255 // 600, (x + y) * 255 // 1400], axis=2).astype(np.int16)
    image = np.clip(image + rng.integers(-40, 40, image.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("photo") / "holiday.jpg"
    cv2.imwrite(str(path), image)
    return path


def open_page(browser, demo_url):
    from playwright.sync_api import expect

    page = browser.new_page(viewport=VIEWPORT)
    page.goto(demo_url)
    expect(page.locator("#upload input[type=file]")).to_be_attached(timeout=60_000)  # the page is ready for an upload
    return page


def analyse(page, path: Path) -> str:
    from playwright.sync_api import expect

    page.locator("#upload input[type=file]").set_input_files(str(path))
    page.locator("#analyse").click()
    word = page.locator("#headline .pneumo-decision-word")
    expect(word).to_be_visible(timeout=60_000)
    return word.get_attribute("data-decision")


def check_first_screen(page, name: str) -> None:
    """The decision leads; the page fits 1280x800 with nothing to scroll; a screenshot is kept."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"demo-{name}.png"))
    sizes = page.evaluate(FONT_SIZES_JS)
    assert sizes["word"] > sizes["other"], f"larger than the decision: {sizes['otherText']!r} ({sizes['other']}px)"
    scroll = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert scroll[0] <= VIEWPORT["width"] and scroll[1] <= VIEWPORT["height"], f"the page scrolls: {scroll}"
    for selector in ("#headline", "#model-card .pneumo-model", "#model-card .pneumo-intended-use", "#original img"):
        box = page.locator(selector).first.bounding_box()
        assert box and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], f"{selector} is off screen"


def test_pneumonia_film_leads_with_the_decision_and_shows_the_map(browser, demo_url, films):
    from playwright.sync_api import expect

    expected = Predictor().predict(films["pneumonia"]).decision
    assert expected in {"PNEUMONIA", "REFER"}
    page = open_page(browser, demo_url)
    assert analyse(page, films["pneumonia"]) == expected
    expect(page.locator("#headline .pneumo-decision-word")).to_have_text(re.compile(rf"\b{expected}$"))
    expect(page.locator("#overlay .pneumo-map img.pneumo-heat")).to_be_visible()
    expect(page.locator("#method")).to_contain_text("Not a segmentation")
    expect(page.locator("#model-card")).to_contain_text("Not a diagnostic device")
    check_first_screen(page, "pneumonia")
    # Colour is never the only signal: the accessibility tree names the decision in words.
    snapshot = page.locator("body").aria_snapshot()
    assert f'status "Decision: {expected}"' in snapshot
    # The opacity slider works in the browser, from the keyboard, without a new request.
    heat = page.locator("#overlay img.pneumo-heat")
    before = float(heat.evaluate("(layer) => layer.style.opacity"))
    page.locator("#opacity input[type=range]").focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    expect(heat).not_to_have_attribute("style", re.compile(rf"opacity: {before}(;|$)"))
    assert float(heat.evaluate("(layer) => layer.style.opacity")) > before
    page.close()


def test_normal_film_says_there_is_nothing_to_localise(browser, demo_url, films):
    from playwright.sync_api import expect

    page = open_page(browser, demo_url)
    assert analyse(page, films["normal"]) == "NORMAL"
    expect(page.locator("#overlay .pneumo-no-finding")).to_contain_text("No finding to localise")
    expect(page.locator("#overlay img.pneumo-heat")).to_be_hidden()  # no map unless asked for
    check_first_screen(page, "normal")
    # On request, from the keyboard, the map appears labelled as such.
    page.locator("#overlay details summary").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#overlay img.pneumo-heat")).to_be_visible()
    expect(page.locator("#overlay")).to_contain_text("on request")
    # The peak rule, as the library computes it for this film, is what the page says and marks.
    peak = map_peak(Predictor().explain(films["normal"]).heatmap)
    flagged = page.locator("#overlay .pneumo-map-warning")
    if peak is not None and peak.outside_lung_fields:
        expect(flagged).to_contain_text(peak.warning())
        expect(page.locator("#overlay svg .pneumo-peak-mark")).to_be_attached()
    else:
        expect(flagged).to_have_count(0)
    page.screenshot(path=str(ARTIFACTS / "demo-normal-map-on-request.png"))
    page.close()


def test_photo_is_rejected_without_probabilities_or_map(browser, demo_url, photo_jpeg):
    from playwright.sync_api import expect

    page = open_page(browser, demo_url)
    assert analyse(page, photo_jpeg) == "REJECTED"
    expect(page.locator("#headline")).to_contain_text("colour")
    expect(page.locator("#label")).to_be_hidden()  # no class name, let alone a larger one
    expect(page.locator("#overlay")).to_contain_text("No map")
    check_first_screen(page, "photo")
    page.close()


def test_upload_works_from_the_keyboard(browser, demo_url):
    """Tab reaches the upload field and Enter opens the file chooser; the tree names the controls."""
    page = open_page(browser, demo_url)
    snapshot = page.locator("body").aria_snapshot()
    assert 'button "Analyse"' in snapshot and re.search(r'heading "pneumo: pneumonia second opinion', snapshot)
    with page.expect_file_chooser(timeout=10_000) as chooser:
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("() => !!document.activeElement.closest('#upload')"):
                break
        page.keyboard.press("Enter")
    assert chooser.value is not None
    page.close()


def test_adults_film_and_a_stated_adult_age_are_refused_without_a_label(browser, demo_url, adult_film, films):
    from playwright.sync_api import expect

    page = open_page(browser, demo_url)
    expect(page.locator("#model-card .pneumo-scope")).to_contain_text("children aged 1-5")
    assert analyse(page, adult_film) in ("REJECTED", "REFER")
    expect(page.locator("#headline")).to_contain_text("adult")
    expect(page.locator("#label")).to_be_hidden()
    expect(page.locator("#overlay img.pneumo-heat")).to_have_count(0)
    check_first_screen(page, "adult")
    page.close()
    page = open_page(browser, demo_url)  # a fresh page: a loaded upload field takes no second file
    page.locator("#patient-age textarea, #patient-age input").first.fill("45")
    assert analyse(page, films["pneumonia"]) == "REJECTED"
    expect(page.locator("#headline")).to_contain_text("18 or over")
    page.close()
