"""The demo's layout in headless Chromium: a very long typed model name and the comparison
tables stay inside the page (no horizontal scrolling to find the latency column)."""

from __future__ import annotations

import pytest

from .test_browser import (
    page,  # noqa: F401  (the module's Chromium page fixture)
)

pytestmark = pytest.mark.browser

#: One name typed into the picker, as a newcomer's paste once did.
LONG_NAME = "resnet" + "x" * 4994
#: How far (in CSS pixels) the page may be wider than the window: none.
PAGE_WIDER = "() => document.documentElement.scrollWidth - window.innerWidth"


def _header_inside(page, table: str, header: str) -> dict:  # noqa: F811
    """Where ``header``'s column heading is, against the table's visible box."""
    return page.evaluate(
        """([table, header]) => {
            const box = document.querySelector(table).getBoundingClientRect();
            const th = Array.from(document.querySelectorAll(table + ' th'))
                .find(t => t.textContent.trim().startsWith(header));
            const cell = th.getBoundingClientRect();
            return {left: cell.left, right: cell.right, boxLeft: box.left, boxRight: box.right};
        }""",
        [table, header],
    )


def test_a_long_model_name_keeps_the_page_and_the_table_in_view(page, public_app_url, photos):  # noqa: F811
    page.goto(public_app_url)
    page.locator("#input-image input[type=file]").set_input_files(str(photos["chelsea_cat.png"]))
    page.locator("#input-image img").first.wait_for()
    page.locator("#models").locator(".token").nth(2).locator(".token-remove").click()
    page.locator("#models input").first.fill(LONG_NAME)
    page.locator("#models input").first.press("Enter")
    page.locator("#run").click()

    page.locator("#card-2").get_by_text("Unavailable").wait_for()
    page.locator("#card-0 .card-label").first.wait_for()
    page.wait_for_function("() => /\\d%/.test(document.querySelector('#comparison').innerText)")
    head = page.locator("#card-2").get_by_test_id("markdown").first
    assert len(head.inner_text()) < 600  # the name once in full made a 10,000-character card
    assert head.locator(f"[title='{LONG_NAME}']").count() == 1  # the full name, on hover
    assert page.evaluate(PAGE_WIDER) <= 0
    for column in ("latency (ms)", "backend", "params (M)", "input"):
        where = _header_inside(page, "#comparison", column)
        assert where["boxLeft"] <= where["left"] and where["right"] <= where["boxRight"] + 1, (
            column,
            where,
        )


def test_the_agreement_table_fits_its_column(page, public_app_url, photos):  # noqa: F811
    page.goto(public_app_url)
    page.get_by_role("tab", name="Segment").click()
    page.locator("#seg-image input[type=file]").set_input_files(str(photos["astronaut.png"]))
    page.locator("#seg-image img").first.wait_for()
    page.locator("#seg-run").click()
    page.wait_for_function(
        "() => document.querySelector('#seg-agreement').textContent.includes('landscape')"
    )
    assert page.evaluate(PAGE_WIDER) <= 0
    where = _header_inside(page, "#seg-agreement", "mIoU")
    assert where["boxLeft"] <= where["left"] and where["right"] <= where["boxRight"] + 1, where
