"""The demo in a real headless Chromium: upload a photo, pick two models, compare."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    '--host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"',
]


@pytest.fixture(scope="module")
def page():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (make test installs it)")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def test_upload_two_models_and_compare(page, app_url, photos, tmp_path):
    page.goto(app_url)
    page.locator("#input-image input[type=file]").set_input_files(str(photos["chelsea_cat.png"]))
    page.locator("#input-image img").first.wait_for()

    # Keep exactly two models: remove the third default from the multiselect.
    page.locator("#models").locator(".token").nth(2).locator(".token-remove").click()
    assert page.locator("#models .token").count() == 2
    page.locator("#run").click()

    for i in (0, 1):
        card = page.locator(f"#card-{i}")
        card.locator(".card-label").get_by_text("cat").first.wait_for()
        assert "ms" in card.get_by_test_id("markdown").inner_text()
    assert not page.locator("#card-2").is_visible()
    verdict = page.locator("#verdict").inner_text()
    assert "top-1" in verdict
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    if os.environ.get("ZOO_SCREENSHOT"):
        shutil.copy(tmp_path / "compare.png", os.environ["ZOO_SCREENSHOT"])


def test_video_tab_example_clip(page, app_url, tmp_path):
    page.goto(app_url)
    page.get_by_role("tab", name="Video").click()
    page.locator("#video-examples .gallery-item").first.click()
    page.locator("#video-input video").wait_for()
    page.locator("#video-run").click()

    for i in (0, 1):
        page.locator(f"#video-out-{i} video").wait_for()
        head = page.locator(f"#video-card-{i}").get_by_test_id("markdown")
        assert "frames/s" in head.inner_text()
    # Chromium decodes the H.264 overlay: its metadata gives the clip's frame size.
    page.wait_for_function(
        "() => { const v = document.querySelector('#video-out-0 video');"
        " return v && v.readyState >= 1 && v.videoWidth === 480 && v.videoHeight === 360; }"
    )
    assert "astronaut_pan.mp4" in page.locator("#video-notice").inner_text()
    page.screenshot(path=str(tmp_path / "video.png"), full_page=True)
    if os.environ.get("ZOO_SCREENSHOT_VIDEO"):
        shutil.copy(tmp_path / "video.png", os.environ["ZOO_SCREENSHOT_VIDEO"])


def test_an_example_photo_runs_on_click_and_reads_as_percent(page, app_url):
    """Clicking an example fills the input and runs the comparison (no button press); the
    table shows confidence as a percentage."""
    page.goto(app_url)
    page.locator(".gallery-item").first.click()
    page.locator("#input-image img").first.wait_for()
    page.locator("#card-0 .card-label").first.wait_for()
    page.wait_for_function("() => /\\d%/.test(document.querySelector('#comparison').innerText)")
    head = page.locator("#card-0").get_by_test_id("markdown").inner_text()
    assert "ms" in head and ("PyTorch" in head or "ONNX Runtime" in head)
