"""Start the vision-zoo demo at http://127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT override).

``--public`` / ``--no-public`` turn public mode on or off (default: ``VISION_ZOO_PUBLIC``, else
on when ``SPACE_ID`` is set, i.e. on a Hugging Face Space); see ``demo/policy.py``.
``--prepare`` does the warm-up's work and exits without serving: a Space's or container's build
step runs it so that the ONNX exports (cached on disk, keyed by weights and versions) are made
before the first visitor.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from demo import build_demo, launch_kwargs
from demo.examples import example_photos
from demo.models import ModelCache
from demo.warmup import Warmup, default_models


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: ``--public`` / ``--no-public`` (``public`` is None when neither)."""
    parser = argparse.ArgumentParser(description="Start the vision-zoo demo.")
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="do not load and run the default models in the background at start",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="load, prepare (ONNX exports, backend choice) and run each tab's default models "
        "once, then exit without serving (a build step: the exports are kept on disk)",
    )
    parser.add_argument(
        "--public",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="public mode: only listed models, size-capped Hub repositories, no server "
        "folders unless VISION_ZOO_LOCAL_ROOTS names them (default: on when SPACE_ID is set)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the demo in the mode the command line and environment ask for, and serve it
    (or, with ``--prepare``, prepare its default models and return the exit status)."""
    args = parse_args(argv)
    if args.prepare:
        return prepare()
    # One line per event: the demo's own notes (a visitor's mistake, weights this server
    # cannot load and what would fix them) at INFO, other libraries' at WARNING.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("demo").setLevel(logging.INFO)
    cache = ModelCache()
    warmup = None
    if args.warmup:
        photos = example_photos()
        warmup = Warmup(cache, default_models(), photos[0] if photos else None).start()
        threading.Thread(target=_report, args=(warmup,), daemon=True).start()
    build_demo(cache, public=args.public, warmup=warmup).launch(**launch_kwargs())
    return 0


def prepare() -> int:
    """The warm-up in the foreground: 0 when every default model was prepared, else 1 (each
    failure named in one line)."""
    photos = example_photos()
    warmup = Warmup(ModelCache(), default_models(), photos[0] if photos else None).start()
    warmup.ready.wait()
    for name, why in warmup.skipped.items():
        print(f"vision-zoo: {name} not prepared: {why}", file=sys.stderr)
    print(f"vision-zoo: {warmup.status()}", flush=True)
    return 0 if len(warmup.done) == len(warmup.models) else 1


def _report(warmup: Warmup) -> None:
    """One line in the server log when the warm-up is done."""
    warmup.ready.wait()
    print(f"vision-zoo: {warmup.status()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
