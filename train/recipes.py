"""Named training recipes: a paper's settings under one name (``python -m train --recipe NAME``
or ``TrainConfig.from_recipe(NAME, ...)``).

A recipe fills the :class:`train.config.TrainConfig` fields it names; a value given explicitly
(a command-line flag, a ``from_recipe`` keyword) wins over the recipe's, and fields the recipe
leaves out keep the TrainConfig default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import zoo


@dataclass(frozen=True)
class Recipe:
    """A paper's training settings.

    Attributes:
        name: What ``--recipe`` takes.
        description: One line for ``--help``.
        paper: Where the settings come from.
        settings: TrainConfig field → value.
    """

    name: str
    description: str
    paper: str
    settings: Mapping[str, Any]


#: He et al. 2016, "Deep Residual Learning for Image Recognition", Sec. 4.2 (CIFAR-10):
#: batch 128, SGD with momentum 0.9 (not Nesterov: timm's ``sgd`` is Nesterov, ``momentum``
#: is the plain kind the paper's Caffe solver used), lr 0.1 divided by 10 after 32k and 48k
#: updates, 64k updates in all, weight decay 1e-4; training images padded by 4 pixels and
#: randomly cropped back to 32×32, flipped horizontally with probability 0.5; evaluation on
#: the plain 32×32 image. With ``--model resnet20_cifar`` it targets the paper's 91.25 % test
#: accuracy (Table 6). Where this differs from the paper:
#:
#: - timm's optimizer factory applies no weight decay to biases and normalisation weights
#:   (every 1-D parameter); the paper decays all weights.
#: - Inputs are normalised with the model cfg's per-channel mean/std; the paper subtracts
#:   the per-pixel mean. The padding is black (0 before normalisation), as most
#:   re-implementations pad; in the paper's mean-subtracted input a zero pad is the mean.
#: - The paper trains on 45k images and keeps 5k for validation to choose the schedule; with
#:   ``cifar10:DIR`` we train on all 50k and validate on the 10k test images every epoch.
#: - ResNet-110's warm-up (lr 0.01 for the first 400 updates) is not part of this recipe.
HE2016_CIFAR = Recipe(
    name="he2016_cifar",
    description="He et al. 2016 CIFAR-10: batch 128, SGD+momentum lr 0.1, /10 at 32k and 48k "
    "of 64k updates, wd 1e-4, pad-4 crop + flip",
    paper="arXiv:1512.03385, Sec. 4.2",
    settings=MappingProxyType(
        {
            "batch_size": 128,
            "opt": "momentum",
            "lr": 0.1,
            "momentum": 0.9,
            "weight_decay": 1e-4,
            "sched": "multistep",
            "train_steps": 64_000,
            "decay_milestones": (32_000, 48_000),
            "warmup_epochs": 0,
            "label_smoothing": 0.0,
            "image_size": 32,
            "pad_crop": 4,
            "hflip": 0.5,
            "color_jitter": 0.0,
        }
    ),
)

#: Every recipe by name.
RECIPES: dict[str, Recipe] = {recipe.name: recipe for recipe in (HE2016_CIFAR,)}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``.

    Raises:
        zoo.ConfigError: Unknown name (the message lists the known ones).
    """
    if name not in RECIPES:
        raise zoo.ConfigError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


def apply_recipe(name: str, explicit: Mapping[str, Any]) -> dict[str, Any]:
    """The recipe's settings, overridden by the ``explicit`` values.

    Args:
        name: A key of :data:`RECIPES`.
        explicit: Values given explicitly (they win, even where equal to a default).

    Returns:
        A new dict: TrainConfig field → value.

    Raises:
        zoo.ConfigError: Unknown recipe.
    """
    return {**get_recipe(name).settings, **explicit}


def recipe_help() -> str:
    """``name (description)`` for every recipe, for ``--help``."""
    return "; ".join(f"{r.name} ({r.description})" for r in RECIPES.values())
