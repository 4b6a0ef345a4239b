"""Fine-tuning zoo models: ``python -m train ...`` or ``train.fit(TrainConfig(...))``.

Imports zoo (its public API only); never demo. Runs from a checkout (not installed with the
library). Modules: :mod:`train.config` (the run's settings), :mod:`train.data` (data sets),
:mod:`train.build` (model, loaders, optimizer), :mod:`train.loop` (the loop),
:mod:`train.outputs` (checkpoints, metrics files, best model, push).
"""

from .build import build_loaders, create_model
from .config import TrainConfig
from .data import DataError, DataSplits, build_data
from .loop import FitResult, evaluate, fit, prepare_run

__all__ = [
    "DataError",
    "DataSplits",
    "FitResult",
    "TrainConfig",
    "build_data",
    "build_loaders",
    "create_model",
    "evaluate",
    "fit",
    "prepare_run",
    "validate",
]


def validate(model_name: str, data: str, **overrides: object) -> dict[str, object]:
    """Evaluate a model (e.g. ``local-dir:runs/x/best``) on a data set's validation split, with
    the same transforms training used.

    Returns:
        The metrics dict of :func:`train.evaluate`.
    """
    config = TrainConfig(model=model_name, data=data, **overrides)  # type: ignore[arg-type]
    model, task = create_model(config)
    splits = build_data(config.data, task, config.seed, config.num_classes)
    _, loader = build_loaders(config, splits, model)
    return evaluate(model, loader, task, len(splits.classes))
