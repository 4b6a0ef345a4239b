"""Fine-tuning zoo models: ``python -m train ...`` or ``train.fit(TrainConfig(...))``;
evaluating them: ``python -m train.validate ...`` or ``train.validate.validate(name, data)``.

Imports zoo (its public API only); never demo. Runs from a checkout (not installed with the
library). Modules: :mod:`train.config` (the run's settings), :mod:`train.data` (data sets:
the spec and :func:`~train.data.build_data`; each format in :mod:`train.digits`,
:mod:`train.folders`, :mod:`train.masks`, :mod:`train.benchmark_layouts`),
:mod:`train.build` (model, loaders, optimizer), :mod:`train.loop` (the loop),
:mod:`train.outputs` (checkpoints, metrics files, best model, push), :mod:`train.evaluation`
(the evaluation loop, for both), :mod:`train.validate` (evaluation the way the weights'
authors did it: its command line; :mod:`train.eval_data` the model and data it runs on,
:mod:`train.published` the published number beside ours, :mod:`train.report` what it
prints, :mod:`train.compare` several models on one split). The package does not import
:mod:`train.validate` itself, so that ``python -m train.validate`` runs it only once.
"""

from typing import Any

import zoo

from .build import build_loaders, create_model
from .config import TrainConfig
from .data import DataError, DataSplits, build_data

#: Modules the ``train`` extra installs (``pip install -e '.[train]'``).
EXTRA_MODULES = ("accelerate", "torchmetrics", "tqdm")
#: Names imported on first use: they need the ``train`` extra, ``python -m train --help``
#: does not.
_LAZY = {"FitResult": "loop", "evaluate": "evaluation", "fit": "loop", "prepare_run": "loop"}


def missing_extra() -> str | None:
    """A one-line message naming the ``train`` extra when one of its modules is missing."""
    import importlib.util

    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"training needs the 'train' extra ({', '.join(missing)} missing): "
        "pip install -e '.[train]' in the checkout"
    )


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        message = missing_extra()
        if message:
            raise zoo.MissingExtraError(message)
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'train' has no attribute {name!r}")


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
]
