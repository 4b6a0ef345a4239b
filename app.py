"""Start the vision-zoo demo at http://127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT override).

``--public`` / ``--no-public`` turn public mode on or off (default: ``VISION_ZOO_PUBLIC``, else
on when ``SPACE_ID`` is set, i.e. on a Hugging Face Space); see ``demo/policy.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
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
        "--public",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="public mode: only listed models, size-capped Hub repositories, no server "
        "folders unless VISION_ZOO_LOCAL_ROOTS names them (default: on when SPACE_ID is set)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build the demo in the mode the command line and environment ask for, and serve it."""
    args = parse_args(argv)
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


def _report(warmup: Warmup) -> None:
    """One line in the server log when the warm-up is done."""
    warmup.ready.wait()
    print(f"vision-zoo: {warmup.status()}", flush=True)


if __name__ == "__main__":
    main()
