"""Fine-tuning zoo models: ``python -m train ...`` or ``train.fit(TrainConfig(...))``;
evaluating them: ``python -m train.validate ...`` or ``train.validate.validate(name, data)``.

Imports zoo (its public API only); never demo. Runs from a checkout (not installed with the
library). Modules: :mod:`train.config` (the run's settings), :mod:`train.data` (data sets),
:mod:`train.build` (model, loaders, optimizer), :mod:`train.loop` (the loop),
:mod:`train.outputs` (checkpoints, metrics files, best model, push), :mod:`train.validate`
(evaluation the way the weights' authors did it). The package does not import
:mod:`train.validate` itself, so that ``python -m train.validate`` runs it only once.
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
]
