"""The Live tab in headless Chromium with a fake camera: Chromium plays a Y4M file of a real
photo (panned) as its webcam; the person model's overlays and frame rate appear and update."""

from __future__ import annotations

import os

import numpy as np
import pytest

from .test_browser import CHROMIUM, FLAGS

pytestmark = pytest.mark.browser
av = pytest.importorskip("av")


def write_y4m(path, photo, frames=45, size=(640, 480), fps=15):
    """A raw YUV 4:2:0 clip (what Chromium's fake capture device reads) panning over ``photo``."""
    with av.open(str(path), "w", format="yuv4mpegpipe") as container:
        stream = container.add_stream("rawvideo", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            crop = photo.crop((4 * i, 0, 4 * i + 384, 288)).resize(size)
            frame = av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def camera_page(tmp_path_factory, photos):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (make test installs it)")
        pytest.skip("Debian's chromium is not installed")
    from PIL import Image
    from playwright.sync_api import sync_playwright

    photo = Image.open(photos["astronaut.png"]).convert("RGB")
    clip = write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", photo)
    camera = [
        "--use-fake-ui-for-media-stream",  # grant the camera without asking
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    ]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, *camera])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.grant_permissions(["camera"])
        page = context.new_page()
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def test_webcam_frames_are_segmented_live(camera_page, app_url):
    page = camera_page
    page.goto(app_url)
    page.get_by_role("tab", name="Live").click()
    # one person model, so the frame rate shown is that model's alone
    page.locator("#live-models .token").nth(1).locator(".token-remove").click()
    assert page.locator("#live-models .token").count() == 1
    page.get_by_text("Click to Access Webcam").click()
    page.locator("#live-input button.capture-button").click()  # start streaming
    # generous: the first frame loads the model and exports it to ONNX under CI's load
    page.locator("#live-out-0 img").wait_for(timeout=180_000)
    first = page.locator("#live-out-0 img").get_attribute("src")
    page.wait_for_function(
        "src => { const i = document.querySelector('#live-out-0 img');"
        " return i && i.getAttribute('src') !== src; }",
        arg=first,
        timeout=60_000,
    )  # the overlay keeps changing: frames are being processed
    page.wait_for_function(
        "() => /[0-9.]+ frames\\/s/.test(document.querySelector('#live-head-0').innerText)",
        timeout=60_000,
    )
    head = page.locator("#live-head-0").inner_text()
    assert "mediapipe_selfie" in head and "ms per frame (median of" in head
    assert "640×480" in head  # the fake camera's frames, as the model got them
    assert not page.locator("#live-out-1 img").count()  # one model chosen: one overlay
