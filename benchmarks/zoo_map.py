"""A map of the zoo: each tag's published metric against its latency measured on this machine.

    python benchmarks/zoo_map.py                      # every tag with a published metric
    python benchmarks/zoo_map.py --only 'hrnetv2_*'   # fnmatch on tag names
    python benchmarks/zoo_map.py --runs 5 --out runs/zoo-map

Which tags: those of ``zoo.list_models(pretrained=True)`` whose record
(``zoo.model_info(tag).metrics``) carries a published ImageNet top-1 (classification, key
``top1``) or mIoU (segmentation, key ``mIoU``), both in percent as the papers give them.
A tag whose record has neither is left out. Segmentation is one panel per data set: mIoU on
Cityscapes is not comparable with mIoU on ADE20K.

Latency: batch 1, one forward pass at the tag's ``input_size`` (its training crop, e.g.
512×1024 for Cityscapes tags, 512×512 for ADE20K and VOC, 520×520 for torchvision's COCO tags;
not the full test-time image, which would be 4× the pixels on Cityscapes), the median of
``--runs`` warm runs after one warm-up, on all of torch's threads. Where the tag's weights
load here (installed or cached), it is timed with them; where they do not (offline: the Hub
and download URLs are unreachable), it is timed with random weights of the same architecture
(``zoo.create_model(tag, pretrained=False)``: same layers, same number of classes), and the
chart draws it hollow. Speed does not depend on the weights' values, so both kinds of point
are comparable; the marker only says whether the published weights themselves were here.

Writes ``zoo_map.csv`` (one row per tag: tag, task, data set, metric, published value,
latency, input size, params, whether the weights are here, runs, machine) and one PNG per
panel, ``zoo_map_<task>_<data set>.png``, into ``--out`` (default ``benchmarks/results/``),
each file whole or not at all. ``--plot-only`` redraws the PNGs from that CSV.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import os
import platform
import re
import statistics
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The published metric plotted for each task (``ModelInfo.metrics`` key → axis label).
METRIC = {"classification": ("top1", "top-1 accuracy (%)"), "segmentation": ("mIoU", "mIoU (%)")}
WARMUP = 1
HOLLOW = "latency with random weights (weights not on this machine)"
FILLED = "latency with the published weights (loaded here)"
COLUMNS = ("tag", "task", "dataset", "metric", "published", "latency_ms", "input_hw", "params",
           "weights_here", "runs", "measured_on")  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """A tag with a published metric: what the map plots for it (latency comes later)."""

    tag: str
    architecture: str
    task: str
    dataset: str  # the record's data set id, or "unknown"
    metric: str
    published: float  # percent
    input_hw: tuple[int, int]
    params: int
    weights_here: bool


def entry(tag: str) -> Entry | None:
    """The map entry of ``tag``, or None when its record has no published metric of its task.

    Never downloads: ``check_availability`` only asks whether the weights load here.
    """
    import zoo

    info = zoo.model_info(tag, check_availability=True)
    key, _ = METRIC[info.task]
    value = info.metrics.get(key)
    if not isinstance(value, (int, float)):
        return None
    dataset = info.dataset or "unknown"
    available = bool(info.weights is not None and info.weights.available)
    return Entry(tag, info.architecture, info.task, dataset, key, float(value),
                 (int(info.input_size[1]), int(info.input_size[2])), info.params,
                 available)  # fmt: skip


def entries(pattern: str = "*") -> list[Entry]:
    """Every pretrained tag matching ``pattern`` (fnmatch) that has a published metric."""
    import zoo

    tags = [t for t in zoo.list_models(pretrained=True) if fnmatch.fnmatchcase(t, pattern)]
    print(f"reading the records of {len(tags)} tags", flush=True)
    found = [e for e in map(entry, tags) if e is not None]
    print(f"{len(found)} with a published top-1 or mIoU", flush=True)
    return found


def latency_ms(item: Entry, runs: int) -> float:
    """Median wall time (ms) of ``runs`` warm forward passes at batch 1 and the tag's input
    size, after one warm-up; with the tag's weights when they are here, else random ones."""
    import torch

    import zoo

    model = zoo.create_model(item.tag, pretrained=item.weights_here).eval()
    x = torch.randn(1, 3, *item.input_hw)
    times = []
    with torch.inference_mode():
        for index in range(WARMUP + runs):
            start = time.perf_counter()
            model(x)
            if index >= WARMUP:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def machine() -> str:
    """What the latencies were measured on, for the CSV and the charts."""
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
            f"torch {torch.__version__}")  # fmt: skip


def measure(items: Sequence[Entry], runs: int) -> list[dict[str, object]]:
    """One CSV row per entry, timing each in turn (progress on stdout)."""
    rows, where = [], machine()
    for done, item in enumerate(items, 1):
        ms = latency_ms(item, runs)
        weights = "its weights" if item.weights_here else "random weights"
        print(f"[{done}/{len(items)}] {item.tag}: {item.metric} {item.published:.2f}, "
              f"{ms:.0f} ms at {item.input_hw[0]}×{item.input_hw[1]} ({weights})",
              flush=True)  # fmt: skip
        rows.append({
            "tag": item.tag, "task": item.task, "dataset": item.dataset, "metric": item.metric,
            "published": item.published, "latency_ms": round(ms, 1),
            "input_hw": f"{item.input_hw[0]}x{item.input_hw[1]}", "params": item.params,
            "weights_here": "yes" if item.weights_here else "no", "runs": runs,
            "measured_on": where,
        })  # fmt: skip
    return rows


def short_name(tag: str, tags: Sequence[str]) -> str:
    """The architecture alone, unless another tag of the same panel shares it."""
    arch = tag.split(".")[0]
    return arch if sum(t.split(".")[0] == arch for t in tags) == 1 else tag


def panel_png(rows: Sequence[dict[str, object]], title: str, ylabel: str, note: str) -> bytes:
    """One panel: published metric (y) against latency (x, log scale), a labelled point per
    tag, hollow where the latency was taken with random weights. PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    tags = [str(r["tag"]) for r in rows]
    for row in rows:
        here = row["weights_here"] == "yes"
        x, y = float(row["latency_ms"]), float(row["published"])  # type: ignore[arg-type]
        ax.scatter([x], [y], s=60, color="C0", facecolors="C0" if here else "none",
                   linewidths=1.5, zorder=3)  # fmt: skip
        ax.annotate(short_name(str(row["tag"]), tags), (x, y), xytext=(5, 4),
                    textcoords="offset points", fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 2000, not 2×10³
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="both", labelsize=8)
    ax.margins(x=0.12, y=0.12)  # room for the labels of the outermost points
    ax.set_xlabel("latency on this machine (ms, batch 1, log scale)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    handles = [
        Line2D([], [], marker="o", ls="", color="C0", label=FILLED),
        Line2D([], [], marker="o", ls="", color="C0", mfc="none", label=HOLLOW),
    ]
    # below the axes, where it can hide no point
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.035))  # fmt: skip
    fig.text(0.01, 0.01, note, fontsize=7, color="0.35")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def panels(rows: Sequence[dict[str, object]]) -> dict[tuple[str, str], list[dict[str, object]]]:
    """Rows grouped by (task, data set): one chart each."""
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((str(row["task"]), str(row["dataset"])), []).append(row)
    return groups


def dataset_title(dataset: str) -> str:
    """The data set's full name from the zoo's records, or the id as written."""
    import zoo

    try:
        return zoo.dataset_info(dataset).title
    except zoo.ConfigError:  # a free name (e.g. "imagenet-1k")
        return dataset


def write_csv(rows: Sequence[dict[str, object]], out: Path) -> Path:
    import zoo

    path = out / "zoo_map.csv"
    with zoo.atomic_write(path, "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(out: Path) -> list[dict[str, object]]:
    with open(out / "zoo_map.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def write_pngs(rows: Sequence[dict[str, object]], out: Path) -> list[Path]:
    """One PNG per (task, data set) panel under ``out``; the paths written."""
    import zoo

    written = []
    for (task, dataset), group in sorted(panels(rows).items()):
        key, ylabel = METRIC[task]
        title = "\n".join(
            textwrap.wrap(f"Published {key} of the weights trained on {dataset_title(dataset)}", 70)
        )
        runs = sorted({str(r["runs"]) for r in group})
        where = "; ".join(sorted({str(r["measured_on"]) for r in group}))
        note = (f"{where}; latency: median of {'/'.join(runs)} warm run(s) after one warm-up, "
                "batch 1, at each tag's input size")  # fmt: skip
        path = out / f"zoo_map_{task}_{re.sub(r'[^A-Za-z0-9]+', '-', dataset)}.png"
        with zoo.atomic_write(path) as file:
            file.write(panel_png(group, title, ylabel, note))
        written.append(path)
    return written


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--only", default="*", metavar="PATTERN",
                   help="tags matching this fnmatch pattern only (default: all)")  # fmt: skip
    p.add_argument("--runs", type=int, default=3,
                   help="timed warm runs per tag, after one warm-up (default 3)")  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results",
                   help="where the CSV and PNGs go (default benchmarks/results)")  # fmt: skip
    p.add_argument("--plot-only", action="store_true",
                   help="redraw the PNGs from --out/zoo_map.csv, timing nothing")  # fmt: skip
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return args


def out_problem(out: Path, plot_only: bool) -> str | None:
    """Why ``out`` cannot take this script's files, or None. The script replaces only what an
    earlier run of it wrote there: a ``zoo_map.csv`` with its columns, and ``zoo_map_*.png``
    beside such a CSV."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file; name a folder"
    table = out / "zoo_map.csv"
    if not table.is_file():
        if plot_only:
            return f"--plot-only needs {table}; run without --plot-only first"
        if any(out.glob("zoo_map_*.png")):
            return (
                f"{out} holds zoo_map_*.png files this script did not write; choose another --out"
            )
        return None
    try:
        with open(table, newline="", encoding="utf-8") as file:
            header = next(csv.reader(file), [])
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {table}: {exc}"
    if header != list(COLUMNS):
        return f"{table} was not written by this script (other columns); choose another --out"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    problem = out_problem(args.out, args.plot_only)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.plot_only:
        rows = read_csv(args.out)
        written = []
    else:
        found = entries(args.only)
        if not found:
            print(f"error: no tag matching {args.only!r} has a published metric", file=sys.stderr)
            return 2
        rows = measure(found, args.runs)
        written = [write_csv(rows, args.out)]
    for path in written + write_pngs(rows, args.out):
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
