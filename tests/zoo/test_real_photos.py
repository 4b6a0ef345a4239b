"""The offline ImageNet weights classify real photos (from installed packages) correctly."""

from __future__ import annotations

import pytest
from skimage import data

import zoo

CAT_CLASSES = {
    "tabby, tabby cat",
    "tiger cat",
    "Egyptian cat",
    "Persian cat",
    "Siamese cat, Siamese",
}


def test_cat_photo_top1_is_a_cat(lite0):
    top = zoo.classify(lite0, data.chelsea(), top_k=5)
    assert top[0][0] in CAT_CLASSES
    assert sum(p for label, p in top if label in CAT_CLASSES) > 0.8


def test_results_are_plain_python_types(lite0):
    """Printed results read as the README shows them (``0.38``, not ``np.float64(0.38)``)."""
    single = zoo.classify(lite0, data.chelsea(), top_k=3)
    batch = zoo.classify(lite0, [data.chelsea(), data.coffee()], top_k=2, tta="flip")
    for label, probability in [*single, *batch[0], *batch[1]]:
        assert type(label) is str and type(probability) is float


def test_coffee_photo_is_espresso(lite0):
    label, probability = zoo.classify(lite0, data.coffee(), top_k=1)[0]
    assert label == "espresso" and probability > 0.5


@pytest.mark.parametrize("variant", ["1", "2"])
def test_larger_lite_models_see_the_cat(variant):
    model = zoo.create_model(f"tf_efficientnet_lite{variant}.in1k", pretrained=True)
    assert zoo.classify(model, data.chelsea(), top_k=1)[0][0] in CAT_CLASSES


def test_grace_hopper_wears_a_uniform(lite0, photos):
    labels = [label for label, _ in zoo.classify(lite0, photos["grace_hopper.jpg"], top_k=3)]
    assert "military uniform" in labels


def test_summer_palace_is_a_palace(lite0, photos):
    assert zoo.classify(lite0, photos["china.jpg"], top_k=1)[0][0] == "palace"
