"""The Live tab's frame rate, as a visitor's browser gets it: headless Chromium with a fake
camera playing a 640×480 Y4M clip (a pan over scikit-image's astronaut photo) streams to
``python app.py`` through Gradio; the figures are the ones the page shows for each model
(frames/s over the last 2 s, median ms per frame on the server).

    python benchmarks/live.py                 # one person model, then both, 20 s each
    python benchmarks/live.py --seconds 60

Needs Chromium (``/usr/bin/chromium``) and Playwright (``make test`` installs both).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from demo_server import ROOT, _free_port, _start, _wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
         "--use-fake-device-for-media-stream"]  # fmt: skip
TIMER = re.compile(r"[\d.]+s")  # Gradio's elapsed-time badge on an updating block
FIGURES = re.compile(r"([\d.]+) frames/s · (\d+) ms per frame \(median of (\d+)\) · (\d+×\d+)")


def camera_clip(folder: Path, seconds: int = 6, fps: int = 15) -> Path:
    """A 640×480 raw YUV 4:2:0 clip that Chromium's fake camera loops."""
    import av
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    path = folder / "camera.y4m"
    with av.open(str(path), "w", format="yuv4mpegpipe") as container:
        stream = container.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for i in range(seconds * fps):
            crop = photo.crop((i, 0, i + 384, 288)).resize((640, 480))
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def run(url: str, clip: Path, models: int, seconds: float, pid: int) -> list[dict[str, str]]:
    """Stream the fake camera for ``seconds`` with the first ``models`` default models."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        args = [*FLAGS, f"--use-file-for-fake-video-capture={clip}"]
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        page.goto(url)
        page.get_by_role("tab", name="Live").click()
        while page.locator("#live-models .token").count() > models:
            page.locator("#live-models .token").last.locator(".token-remove").click()
        page.get_by_text("Click to Access Webcam").click()
        page.locator("#live-input button.capture-button").click()
        page.locator("#live-out-0 img").wait_for()
        time.sleep(3)  # past the first frames (the cold runs)
        server = psutil.Process(pid)
        server.cpu_percent()
        chrome = [psutil.Process(p.pid) for p in psutil.process_iter(["name"])
                  if "chrom" in (p.info["name"] or "")]  # fmt: skip
        for proc in chrome:
            proc.cpu_percent()
        samples: list[list[tuple[float, float]]] = [[] for _ in range(models)]
        end = time.perf_counter() + seconds
        rows = []
        while time.perf_counter() < end:
            time.sleep(1.0)
            for i in range(models):
                found = FIGURES.search(page.locator(f"#live-head-{i}").inner_text())
                if found:
                    samples[i].append((float(found[1]), float(found[2])))
        server_cpu = server.cpu_percent()
        chrome_cpu = sum(_cpu(proc) for proc in chrome)
        for i in range(models):
            head = page.locator(f"#live-head-{i}").inner_text()
            name = next((ln.strip() for ln in head.splitlines() if ln.strip()
                         and "frames/s" not in ln and not TIMER.fullmatch(ln.strip())),
                        f"model {i}")  # fmt: skip
            fps = [s[0] for s in samples[i]]
            ms = [s[1] for s in samples[i]]
            found = FIGURES.search(head)
            rows.append({
                "models at once": str(models),
                "model": name,
                "frames/s (median of 1 s samples)": f"{np.median(fps):.1f}" if fps else "-",
                "frames/s (lowest sample)": f"{min(fps):.1f}" if fps else "-",
                "ms per frame (median)": f"{np.median(ms):.0f}" if ms else "-",
                "frame": found[4] if found else "-",
                "server CPU %": f"{server_cpu:.0f}",
                "Chromium CPU %": f"{chrome_cpu:.0f}",
            })  # fmt: skip
        browser.close()
    return rows


def _cpu(proc: psutil.Process) -> float:
    try:
        return proc.cpu_percent()
    except psutil.Error:
        return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per configuration")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="vision-zoo-live-"))
    clip = camera_clip(folder)
    port = _free_port()
    process, lines = _start(ROOT, port)
    try:
        _wait_for(lines, "vision-zoo: Ready", process, 900)
        url = f"http://127.0.0.1:{port}/"
        rows = [row for models in (1, 2)
                for row in run(url, clip, models, args.seconds, process.pid)]  # fmt: skip
    finally:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(row[k] for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
