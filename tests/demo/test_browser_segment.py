"""The Segment tab in headless Chromium: a photo through two person models, side by side."""

from __future__ import annotations

import os

import pytest

from .test_browser import (
    LATENCY,
    page,  # noqa: F401  (the module's Chromium page fixture)
)

pytestmark = pytest.mark.browser


def test_segment_tab_shows_two_overlays_and_their_agreement(page, public_app_url, photos, tmp_path):  # noqa: F811
    page.goto(public_app_url)
    page.get_by_role("tab", name="Segment").click()
    page.locator("#seg-image input[type=file]").set_input_files(str(photos["astronaut.png"]))
    page.locator("#seg-image img").first.wait_for()
    assert page.locator("#seg-models .token").count() == 2  # the two offline person models
    page.locator("#seg-run").click()
    for i in (0, 1):
        card = page.locator(f"#seg-card-{i}")
        card.locator(".seg-overlay img").first.wait_for()
        head = card.get_by_test_id("markdown").first
        assert (
            LATENCY.search(head.inner_text())
            and "from vision-zoo itself (bundled" in head.inner_text()
        )
        assert head.locator("a[href^='https://github.com/google-ai-edge/mediapipe']").count()
        assert "person" in card.locator(".seg-legend").inner_text()
    page.wait_for_function(  # the agreement table's one row: the pair and its numbers
        "() => document.querySelector('#seg-agreement').textContent.includes('landscape')"
    )
    page.locator("#seg-disagreement img").first.wait_for()
    assert "same label" in page.locator("#seg-verdict").inner_text()
    assert not page.locator("#seg-card-2").is_visible()
    page.screenshot(path=str(tmp_path / "segment.png"), full_page=True)
    if os.environ.get("ZOO_SCREENSHOT"):
        page.screenshot(path=os.environ["ZOO_SCREENSHOT"].replace(".png", "-segment.png"),
                        full_page=True)  # fmt: skip
