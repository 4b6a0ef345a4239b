"""Push a finished run's best model to the Hub: ``python -m train.push RUN/best org/name``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import zoo


def push_run(best_dir: str | Path, repo_id: str) -> str:
    """Push the model saved in ``best_dir`` with the metrics and data set recorded there.

    Returns:
        The commit URL.
    """
    config = zoo.io.read_config(best_dir)
    model = zoo.from_pretrained(best_dir)
    metrics = {k: v for k, v in (config.get("metrics") or {}).items() if k != "epoch"}
    return zoo.push_to_hub(
        model,
        repo_id,
        metrics=metrics or None,
        dataset=config.get("dataset"),
        labels=config.get("label_names"),
        commit_message="Upload model trained with vision-zoo",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.push", description=__doc__)
    parser.add_argument("best_dir", type=Path, help="the run's best/ directory")
    parser.add_argument("repo_id", help="org/name on the Hub")
    args = parser.parse_args(argv)
    try:
        print(push_run(args.best_dir, args.repo_id))
    except zoo.ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
