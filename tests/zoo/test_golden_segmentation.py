"""Golden logits of the mmsegmentation tags' architectures, checked without mmsegmentation.

The values in ``golden_segmentation.json`` are mmsegmentation's outputs for seeded weights
(``tests/zoo/mmseg_reference.py`` writes them; ``test_mmseg_parity.py`` re-derives them when
mmsegmentation is installed). Here the zoo's own model, filled with the same seeded tensors
under its own key names, must reproduce them.
"""

from __future__ import annotations

import json

import pytest
import torch

import zoo

from . import mmseg_reference as reference

GOLDEN = json.loads(reference.GOLDEN_PATH.read_text())


@pytest.mark.parametrize("tag", reference.GOLDEN_TAGS)
def test_zoo_reproduces_golden_logits(tag):
    model = reference.fill(zoo.create_model(tag)).eval()
    with torch.no_grad():
        logits = model(reference.golden_input())
    values = [logits[0, k, y, x].item() for k, y, x in reference.golden_points(logits.shape[1])]
    assert values == pytest.approx(GOLDEN[tag], rel=1e-4, abs=1e-4)


LAYOUTS = reference.stored_key_layouts()


@pytest.mark.parametrize("tag", reference.GOLDEN_TAGS)
def test_converter_maps_the_reference_keys_onto_the_model(tag):
    """mmsegmentation's tensor names and shapes (stored) convert to exactly the zoo model's."""
    from zoo.convert import mmseg_segmentation_to_zoo

    with torch.device("meta"):
        ours = {k: list(v.shape) for k, v in zoo.create_model(tag).state_dict().items()}
        upstream = {key: torch.empty(shape) for key, shape in LAYOUTS[tag]}
    converted = {k: list(v.shape) for k, v in mmseg_segmentation_to_zoo(upstream).items()}
    assert converted == ours
