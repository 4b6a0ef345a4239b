"""The Evaluate tab in headless Chromium: a labelled zip, two models, the leaderboard and the
accuracy-against-latency plot."""

from __future__ import annotations

import os

import pytest

from .labelled_zips import person_zip
from .test_browser import (
    ERROR_BADGES,
    page,  # noqa: F401  (the module's Chromium page fixture)
)

pytestmark = pytest.mark.browser


def test_evaluate_tab_ranks_two_models_on_a_labelled_zip(page, public_app_url, photos, tmp_path):  # noqa: F811
    upload = person_zip(tmp_path / "people.zip", photos)
    page.goto(public_app_url)
    page.get_by_role("tab", name="Evaluate").click()
    assert page.locator("#eval-models .token").count() == 2  # the two offline person models
    page.locator("#eval-zip input[type=file]").set_input_files(str(upload))
    info = page.locator("#eval-upload-info")
    info.get_by_text("3 image + mask pairs, 2 classes: background, person.").wait_for()
    mapping = page.locator("#eval-mapping")
    mapping.get_by_text("mediapipe_selfie.general_256").first.wait_for()  # a column per model
    page.locator("#eval-run").click()
    board = page.locator("#eval-leaderboard")
    page.wait_for_function(
        "() => document.querySelector('#eval-leaderboard').textContent.includes('landscape')"
    )
    rows = board.locator(".virtual-row")  # Gradio's table body: a row of grid cells each
    rows.nth(1).wait_for()
    assert rows.count() == 2
    scores = []
    for i in range(2):
        cells = [c.strip() for c in rows.nth(i).get_by_role("gridcell").all_inner_texts()]
        assert cells[0].startswith("mediapipe_selfie.")
        scores.append(float(cells[1]))  # mIoU (%)
        assert 0.0 <= scores[-1] <= 100.0 and float(cells[4]) > 0  # latency (ms)
    assert scores[0] >= scores[1]  # best first
    # Gradio's own plot (Vega): one point per model
    page.locator("#eval-plot svg").first.wait_for()
    assert page.locator("#eval-plot .mark-symbol.role-mark path").count() == 2  # legend left out
    assert "against latency here" in page.locator("#eval-plot").inner_text()
    assert "Best on your 3 examples" in page.locator("#eval-verdict").inner_text()
    assert page.locator("#eval-worst img").count() >= 4  # the worst examples of each model
    assert "person" in page.locator("#eval-per-class").inner_text()
    assert page.evaluate(ERROR_BADGES) == 0
    page.screenshot(path=str(tmp_path / "evaluate.png"), full_page=True)
    if os.environ.get("ZOO_SCREENSHOT"):
        page.screenshot(
            path=os.environ["ZOO_SCREENSHOT"].replace(".png", "-evaluate.png"), full_page=True
        )
