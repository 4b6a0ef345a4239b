"""The demo as a visitor meets it: first answer, latency per request, throughput, memory.

Starts ``python app.py`` (local mode) from each checkout given, in turn, on a free port, and
measures with ``gradio_client``:

- **served**: seconds from the start of the process until the page answers;
- **ready**: seconds until the server says its warm-up is done (a server without warm-up is
  ready when served);
- **first classify**: the first answer to the default Classify request (the three default
  classifiers, backend "auto", an example photo) after ready, in seconds;
- **/segment p50, 1 client**: the default Segment request (the segmentation pickers' default
  models), ``--requests`` in a row, median seconds;
- **/segment, 4 clients**: requests per second and median seconds with four clients at once;
- **RSS**: the server's resident memory after the first request and after all of them.

    python benchmarks/demo_server.py                               # this checkout
    python benchmarks/demo_server.py --baseline ../old-checkout    # and a reference, same run

Each checkout runs with the same interpreter (this environment), one after the other.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(checkout: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "PYTHONPATH": str(checkout),
           "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "app.py", "--no-public"],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def _wait_for(lines: list[str], text: str, process: subprocess.Popen[str], limit: float) -> float:
    start = time.perf_counter()
    while not any(text in line for line in lines):
        if process.poll() is not None:
            raise RuntimeError("app.py exited:\n" + "\n".join(lines[-20:]))
        if time.perf_counter() - start > limit:
            raise TimeoutError(f"no {text!r} within {limit:.0f} s")
        time.sleep(0.1)
    return time.perf_counter()


def _rss_mib(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def measure(checkout: Path, photo: Path, requests: int) -> dict[str, float]:
    """The figures of one checkout's demo (see the module docstring)."""
    from gradio_client import Client, handle_file

    warms = any("--no-warmup" in line for line in _help(checkout))
    port = _free_port()
    started = time.perf_counter()
    process, lines = _start(checkout, port)
    try:
        served = _wait_for(lines, "Running on", process, 600) - started
        ready = (
            _wait_for(lines, "vision-zoo: Ready", process, 900) if warms else time.perf_counter()
        )
        ready -= started
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        image = handle_file(str(photo))
        classifiers = ["tf_efficientnet_lite0.in1k", "tf_efficientnet_lite1.in1k",
                       "tf_efficientnet_lite2.in1k"]  # fmt: skip
        start = time.perf_counter()
        client.predict(image, classifiers, "auto", api_name="/compare")
        first = time.perf_counter() - start
        segmenters = ["mediapipe_selfie.general_256", "mediapipe_selfie.landscape_144x256"]

        def segment(c: Client) -> float:
            begin = time.perf_counter()
            c.predict(image, segmenters, 0.5, "auto", api_name="/segment")
            return time.perf_counter() - begin

        segment(client)  # the segmenters' first (cold) run, outside the figures
        rss_start = _rss_mib(process.pid)
        one = [segment(client) for _ in range(requests)]
        clients = [Client(f"http://127.0.0.1:{port}/", verbose=False) for _ in range(4)]
        times: list[float] = []
        begin = time.perf_counter()
        threads = [
            threading.Thread(target=lambda c=c: times.extend(segment(c) for _ in range(requests)))
            for c in clients
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - begin
        return {
            "served_s": served,
            "ready_s": ready,
            "first_classify_s": first,
            "segment_p50_1_client_s": statistics.median(one),
            "segment_rps_4_clients": len(times) / wall,
            "segment_p50_4_clients_s": statistics.median(times),
            "rss_start_mib": rss_start,
            "rss_end_mib": _rss_mib(process.pid),
            "requests": float(requests * 5),
        }
    finally:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()


def _help(checkout: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, "app.py", "--help"], cwd=checkout, text=True,
                          capture_output=True, env=env)  # fmt: skip
    return done.stdout.splitlines()


def _astronaut() -> Path:
    """scikit-image's astronaut photo (512×512, one of the demo's example photos) as a PNG."""
    import tempfile

    from PIL import Image
    from skimage import data

    path = Path(tempfile.mkdtemp(prefix="vision-zoo-benchmark-")) / "astronaut.png"  # a new folder
    Image.fromarray(data.astronaut()).save(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a reference checkout, measured first")
    parser.add_argument("--requests", type=int, default=20, help="/segment requests per client")
    args = parser.parse_args()
    photo = _astronaut()
    runs = {"baseline": args.baseline, "this checkout": ROOT} if args.baseline else {
        "this checkout": ROOT}  # fmt: skip
    results = {label: measure(Path(path).resolve(), photo, args.requests)
               for label, path in runs.items()}  # fmt: skip
    keys = list(next(iter(results.values())))
    print("| figure | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{r[key]:.2f}" for r in results.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
