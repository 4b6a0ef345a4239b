"""What a run writes: atomic checkpoints (``last.pt``), ``metrics.csv``, the confusion matrix,
the best model (``best/``, a :func:`zoo.save_pretrained` directory) and its Hub push.

Every file goes through :func:`zoo.atomic_write`, so a kill never leaves a truncated file, and
temporaries that a killed run left behind are removed by its next write.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import zoo


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) random states, in ``weights_only``-safe types."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys).copy()), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically."""
    with zoo.atomic_write(path) as file:
        torch.save(state, file)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (a run directory means its ``last.pt``).

    Raises:
        zoo.CheckpointError: Missing, truncated or not a training checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise zoo.CheckpointError(f"No checkpoint at {path} (a run directory holds last.pt).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged zip/pickle
        raise zoo.CheckpointError(
            f"Checkpoint {path} is unreadable (truncated or corrupt?): {exc}"
        ) from exc
    if not isinstance(state, dict) or "model" not in state or "epoch" not in state:
        raise zoo.CheckpointError(f"{path} is not a vision-zoo training checkpoint.")
    return state


def write_csv(history: list[dict[str, Any]], path: Path) -> None:
    """``metrics.csv``: one row per epoch (scalar columns), rewritten from the run's history."""
    if not history:
        return
    columns = list(dict.fromkeys(k for row in history for k in row if not isinstance(row[k], list)))
    with zoo.atomic_write(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)


def write_confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> None:
    """The latest validation confusion matrix as CSV (rows: ground truth, columns: prediction)."""
    with zoo.atomic_write(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["true \\ predicted", *classes])
        writer.writerows([name, *row] for name, row in zip(classes, matrix, strict=True))


def plot_confusion_matrix(
    matrix: list[list[int]], classes: list[str], path: str | Path, title: str = ""
) -> None:
    """The confusion matrix as a PNG heat map, written atomically: each row divided by its
    total (so a cell is the share of that true class predicted as the column's class, and the
    diagonal is the per-class accuracy), counts written in the cells up to 20 classes, class
    names on the axes up to 60.

    Args:
        matrix: ``(K, K)`` counts, rows = ground truth, columns = prediction.
        classes: K class names.
        path: The ``.png`` to write.
        title: A title above the plot.

    Raises:
        OSError: The file cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.float64)  # (K, K)
    shares = counts / np.maximum(counts.sum(1, keepdims=True), 1.0)
    k = len(classes)
    side = min(max(4.0, 0.35 * k + 2.0), 30.0)  # inches
    figure = Figure(figsize=(side + 1.2, side), dpi=100)
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if title:
        axes.set_title(title, fontsize=9)
    if k <= 60:
        axes.set_xticks(range(k), classes, rotation=90, fontsize=7)
        axes.set_yticks(range(k), classes, fontsize=7)
    if k <= 20:
        for (row, col), value in np.ndenumerate(counts):
            if value:
                colour = "white" if shares[row, col] > 0.5 else "black"
                axes.text(col, row, f"{int(value)}", ha="center", va="center", fontsize=6,
                          color=colour)  # fmt: skip
    figure.tight_layout()
    with zoo.atomic_write(path) as file:
        figure.savefig(file, format="png")


def plot_comparison(results: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """A comparison as a PNG scatter, written atomically: the main metric (mIoU or top-1,
    percent) against the median forward-pass latency (milliseconds per image), one labelled
    point per evaluated model (a failed one is listed under the plot instead). The latency
    axis is logarithmic when the slowest model is over 20× the fastest.

    Args:
        results: :func:`train.compare.compare`'s list.
        path: The ``.png`` to write.
        title: A title above the plot (e.g. the data and split).

    Raises:
        OSError: The file cannot be written.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    from matplotlib.figure import Figure

    evaluated = [r for r in results if "error" not in r]
    segmentation = any("mIoU" in r for r in evaluated)
    metric, label = ("mIoU", "mIoU (%)") if segmentation else ("top1", "top-1 (%)")
    done = [r for r in evaluated if r.get("latency_ms") is not None and r.get(metric) is not None]
    failed = [r["model"] for r in results if all(r is not d for d in done)]
    figure = Figure(figsize=(6.4, 4.8), dpi=100)
    axes = figure.add_subplot()
    for result in done:
        x, y = result["latency_ms"], result[metric]
        axes.scatter([x], [y], s=36, zorder=2)
        name = result["model"] if len(result["model"]) <= 40 else "…" + result["model"][-39:]
        axes.annotate(name, (x, y), xytext=(5, 4), textcoords="offset points", fontsize=8,
                      annotation_clip=False)  # fmt: skip
    axes.margins(0.3, 0.15)  # room for the labels right of the points
    latencies = [r["latency_ms"] for r in done if r["latency_ms"] > 0]
    if latencies and max(latencies) > 20 * min(latencies):
        axes.set_xscale("log")
    axes.set_xlabel("latency (ms per image, median forward pass)")
    axes.set_ylabel(label)
    axes.grid(True, alpha=0.3)
    if title:
        axes.set_title(title, fontsize=9)
    if failed:
        figure.text(0.01, 0.01, "not plotted: " + ", ".join(failed), fontsize=7)
    figure.tight_layout(rect=(0, 0.04 if failed else 0, 1, 1))
    with zoo.atomic_write(path) as file:
        figure.savefig(file, format="png")


#: The evaluators' metrics that are fractions in [0, 1]; a saved model records them in percent,
#: as published weights do (:class:`zoo.meta.ZooMeta`'s ``metrics``).
FRACTIONS = ("top1", "top5", "mIoU", "mAcc", "pixel_acc")


def export_best(
    model: nn.Module,
    directory: Path,
    classes: list[str],
    palette: list[tuple[int, int, int]] | None,
    dataset: str,
    metrics: dict[str, Any],
    size: int,
) -> None:
    """Save the model as ``directory`` with :func:`zoo.save_pretrained`, swapped in whole;
    ``metrics`` is the epoch's row (fractions, see :data:`FRACTIONS`), recorded in percent."""
    scalars = {
        k: float(v) * (100.0 if k in FRACTIONS else 1.0)
        for k, v in metrics.items()
        if isinstance(v, (int, float))
    }
    zoo.save_pretrained(model, directory, labels=classes, palette=palette, metrics=scalars,
                        dataset=dataset, input_size=(3, size, size), replace=True)  # fmt: skip


def push_best(best_dir: Path, repo_id: str) -> str:
    """Upload ``best/`` as it is saved (weights, config with metrics, a model card).

    Returns:
        The commit URL.

    Raises:
        zoo.ZooError: The Hub is unreachable or the directory is not a saved model.
    """
    return zoo.push_to_hub(best_dir, repo_id, commit_message="Upload model trained with vision-zoo")


def format_row(epoch: int, row: dict[str, Any], task: str) -> str:
    """One line of the per-epoch validation table."""
    keys = ("mIoU", "pixel_acc") if task == "segmentation" else ("top1", "top5")
    scores = "  ".join(f"{k} {row[k]:.4f}" for k in keys)
    return (
        f"epoch {epoch:3d} | train loss {row['train_loss']:.4f} | val loss "
        f"{row['val_loss']:.4f} | {scores} | lr {row['lr']:.2e} | {row['seconds']:.1f}s"
    )
