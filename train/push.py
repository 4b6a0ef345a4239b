"""Push a finished run's best model to the Hub: ``python -m train.push RUN/best org/name``.

Exit codes: 0 pushed, 2 not a saved model or the Hub is unreachable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import zoo

from .outputs import push_best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.push", description=__doc__)
    parser.add_argument("best_dir", type=Path, help="the run's best/ directory")
    parser.add_argument("repo_id", help="org/name on the Hub")
    args = parser.parse_args(argv)
    try:
        print(push_best(args.best_dir, args.repo_id))
    except zoo.ZooError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
