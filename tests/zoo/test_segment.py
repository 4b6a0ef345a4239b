"""zoo.segment: the model's own preprocessing, whole and sliding-window inference, TTA, masks
at the original size."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.meta import TestResize, ZooMeta


def tiny(test_resize=None, input_size=(3, 96, 128), num_classes=3):
    """A small random segmentation model with a given test-time policy (fast on CPU)."""
    record = ZooMeta(task="segmentation", test_resize=test_resize)
    overlay = {"input_size": input_size, "zoo": record}
    torch.manual_seed(0)
    model = zoo.create_model("fcn", backbone="resnet18", num_classes=num_classes,
                             output_stride=32, pretrained_cfg_overlay=overlay)  # fmt: skip
    return model.eval()


@pytest.fixture(scope="module")
def model():
    return tiny()


@pytest.fixture(scope="module")
def photo(photos):
    return Image.open(photos["astronaut.png"]).convert("RGB").resize((203, 151))


def test_result_is_at_the_original_size_with_labels_and_shares(model, photo):
    result = zoo.segment(model, photo)
    assert result.mask.shape == (151, 203) and result.mask.dtype == np.uint8
    assert result.input_size == (96, 129)  # short side to the input size's (96), keep ratio
    assert result.labels == zoo.get_labels(model) and len(result.palette) == 3
    shares = result.class_shares()
    assert all(type(k) is str and type(v) is float for k, v in shares.items())  # print as floats
    assert sum(shares.values()) == pytest.approx(1.0)
    assert list(shares.values()) == sorted(shares.values(), reverse=True)
    assert result.overlay(0.3).size == result.colorize().size == (203, 151)
    assert result.latency_ms > 0 and result.mode == "whole"


def test_slide_equals_whole_when_one_window_covers_the_image(model, photo):
    whole = zoo.segment(model, photo, mode="whole", return_probs=True)
    slide = zoo.segment(model, photo, mode="slide", crop=(96, 160), return_probs=True)
    assert slide.mode == "slide"
    assert (whole.probs - slide.probs).abs().max() <= 1e-6
    assert np.array_equal(whole.mask, slide.mask)


def test_slide_windows_overlap_and_average(model, photo):
    """Overlapping windows: every pixel counted, logits averaged (max vs a manual average)."""
    calls = []
    handle = model.register_forward_hook(lambda m, args, out: calls.append(args[0].shape))
    try:
        result = zoo.segment(model, photo, mode="slide", crop=(64, 64), stride=(40, 40),
                             batch_size=3, return_probs=True)  # fmt: skip
    finally:
        handle.remove()
    # 96×129 input: rows at 0, 32 (last shifted back), columns at 0, 40, 65 → 6 windows
    assert sum(shape[0] for shape in calls) == 6 and max(s[0] for s in calls) <= 3
    assert all(shape[-2:] == (64, 64) for shape in calls)
    assert result.probs.sum(0).allclose(torch.ones(151, 203), atol=1e-5)


def test_slide_on_a_12_megapixel_photo_gives_a_full_size_mask(photos):
    model = tiny(TestResize("keep_ratio", (0, 1500)), input_size=(3, 512, 512))
    big = Image.open(photos["astronaut.png"]).convert("RGB").resize((3000, 4000))
    result = zoo.segment(model, big, mode="auto", batch_size=2)
    assert result.mode == "slide"  # 1500×2000 is more than four 512² crops
    assert result.mask.shape == (4000, 3000)


def test_flip_tta_is_the_mean_of_the_model_and_its_mirror(model, photo):
    tta = zoo.segment(model, photo, tta="flip", return_probs=True).probs
    plain = zoo.segment(model, photo, return_probs=True).probs
    mirrored = zoo.segment(model, photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                           return_probs=True).probs.flip(-1)  # fmt: skip
    assert (tta - (plain + mirrored) / 2).abs().max() <= 1e-4
    assert (tta - plain).abs().max() > 1e-3  # a random model is not mirror-symmetric


def test_multi_scale_tta_averages_probabilities(model, photo):
    result = zoo.segment(model, photo, tta=(0.75, 1.0, 1.25), return_probs=True)
    assert result.probs.sum(0).allclose(torch.ones(151, 203), atol=1e-5)
    assert result.mask.shape == (151, 203)


@pytest.mark.parametrize("size", [(97, 131), (31, 45), (300, 17)])
def test_odd_sizes(model, size):
    array = np.random.default_rng(0).integers(0, 255, (*size, 3), dtype=np.uint8)
    assert zoo.segment(model, array).mask.shape == size


def test_exif_rotated_input_gives_a_mask_of_the_displayed_size(model, photo):
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    photo.save(buffer, "JPEG", exif=exif)
    result = zoo.segment(model, buffer.getvalue())
    assert result.mask.shape == (203, 151)  # displayed: portrait
    assert result.image.size == (151, 203)


def test_the_tags_test_resize_is_used(photo):
    model = tiny(TestResize("keep_ratio", (2048, 64)))
    assert zoo.segment(model, photo).input_size == (64, 86)
    model = tiny(TestResize("whole", (100, 50)))
    assert zoo.segment(model, photo).input_size == (50, 100)


def test_a_batch_gives_a_list(model, photo):
    results = zoo.segment(model, [photo, np.asarray(photo)[:50]])
    assert [r.mask.shape for r in results] == [(151, 203), (50, 203)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "tiles"}, "mode must be one of"),
        ({"tta": "rotate"}, "tta must be"),
        ({"tta": (0.0,)}, "tta must be"),
        ({"crop": (0, 5)}, "crop must be"),
        ({"stride": 8}, "stride must be"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments(model, photo, kwargs, match):
    with pytest.raises(zoo.ConfigError, match=match):
        zoo.segment(model, photo, **kwargs)


def test_a_classifier_is_refused(lite0, photo):
    with pytest.raises(zoo.ConfigError, match=r"zoo\.classify"):
        zoo.segment(lite0, photo)


def test_bad_alpha(model, photo):
    with pytest.raises(zoo.ConfigError, match="alpha"):
        zoo.segment(model, photo).overlay(1.5)


def test_stride_beyond_crop_tiny_crops_and_single_channel_models_are_refused(model, photo):
    with pytest.raises(zoo.ConfigError, match="must not exceed crop"):
        zoo.segment(model, photo, mode="slide", crop=(64, 64), stride=(100, 100))
    with pytest.raises(zoo.ConfigError, match="too small"):
        zoo.segment(model, photo, mode="slide", crop=(1, 1))
    with pytest.raises(zoo.ConfigError, match="K ≥ 2"):
        zoo.segment(tiny(num_classes=1), photo)


def test_half_precision_models_get_half_inputs(photo):
    result = zoo.segment(tiny().half(), photo)
    assert result.mask.shape == (151, 203)
