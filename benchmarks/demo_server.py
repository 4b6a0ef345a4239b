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
- **RSS**: the server's resident memory after the first request and after all of them;
  with ``--rss-requests N``, also after each of N more ``/segment`` requests in a row
  (checkpoints printed as they pass);
- **crowd** (``--crowd N``): N clients send one ``/segment`` request each at the same moment;
  each request is counted as served, told its place in the queue (Gradio's ``IN_QUEUE`` status
  with a rank) before it was served, refused with a message (a full queue), or lost (no
  answer within 10 minutes, or an error without a message).

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def measure(
    checkout: Path, photo: Path, requests: int, rss_requests: int = 0, crowd: int = 0
) -> dict[str, float]:
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
        extra: dict[str, float] = {}
        if rss_requests:
            extra.update(_rss_run(process.pid, lambda: segment(client), rss_requests))
        if crowd:
            extra.update(_crowd(f"http://127.0.0.1:{port}/", image, segmenters, crowd))
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
            **extra,
        }
    finally:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()


def _rss_run(pid: int, request: Callable[[], float], count: int) -> dict[str, float]:
    """RSS (MiB) before ``count`` more requests in a row and at checkpoints along them."""
    out = {"rss_run_start_mib": _rss_mib(pid)}
    marks = sorted({count // 10, count // 4, count // 2, 3 * count // 4, count} - {0})
    times = []
    for done in range(1, count + 1):
        times.append(request())
        if done in marks:
            out[f"rss_after_{done}_mib"] = _rss_mib(pid)
            print(f"  {done} requests: RSS {out[f'rss_after_{done}_mib']:.0f} MiB, "
                  f"p50 {statistics.median(times):.3f} s", flush=True)  # fmt: skip
    out["rss_run_p50_s"] = statistics.median(times)
    return out


def _crowd(url: str, image: Any, models: list[str], clients: int) -> dict[str, float]:
    """``clients`` clients, one ``/segment`` request each, all sent at once."""
    from gradio_client import Client
    from gradio_client.utils import Status

    outcomes: list[str] = []
    seconds: list[float] = []
    lock = threading.Lock()
    gate = threading.Barrier(clients, timeout=120)

    def visitor() -> None:
        try:
            client = Client(url, verbose=False)
            gate.wait()  # all at the same moment
        except Exception:
            gate.abort()  # one client that cannot connect must not hold the others forever
            with lock:
                outcomes.append("lost")
            return
        begin = time.perf_counter()
        job = client.submit(image, models, 0.5, "auto", api_name="/segment")
        told = False
        while not job.done():
            status = job.status()
            told = told or (status.code == Status.IN_QUEUE and status.rank is not None)
            time.sleep(0.05)
        try:
            job.result(timeout=600)
            outcome = "served after being told its place" if told else "served at once"
        except Exception as exc:
            outcome = "refused with a message" if str(exc).strip() else "lost"
        with lock:
            outcomes.append(outcome)
            seconds.append(time.perf_counter() - begin)

    threads = [threading.Thread(target=visitor) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    kinds = ["served at once", "served after being told its place", "refused with a message"]
    out = {f"crowd {kind}": float(outcomes.count(kind)) for kind in kinds}
    out["crowd lost"] = float(clients - sum(out.values()))  # no answer, or never sent
    out["crowd p50 s"] = statistics.median(seconds) if seconds else 0.0
    out["crowd slowest s"] = max(seconds, default=0.0)
    return out


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
    parser.add_argument(
        "--rss-requests",
        type=int,
        default=0,
        help="then this many /segment requests in a row, RSS at checkpoints",
    )
    parser.add_argument(
        "--crowd",
        type=int,
        default=0,
        help="then this many clients with one /segment request each, at once",
    )
    args = parser.parse_args()
    photo = _astronaut()
    runs = {"baseline": args.baseline, "this checkout": ROOT} if args.baseline else {
        "this checkout": ROOT}  # fmt: skip
    results = {label: measure(Path(path).resolve(), photo, args.requests, args.rss_requests,
                              args.crowd) for label, path in runs.items()}  # fmt: skip
    keys = list(next(iter(results.values())))
    print("| figure | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{r[key]:.2f}" for r in results.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
