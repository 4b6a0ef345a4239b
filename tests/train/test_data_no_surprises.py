"""Training and validation data as users lay it out: a photo turned by its EXIF orientation
keeps its mask aligned, a ``masks:`` folder with one split validates (or says which layout is
expected), and the validator's default worker count fits the machine."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from tests.train.conftest import save_gray
from train.data import SPLITS, DataError, build_data
from train.validate import main, parser

ORIENTATION = 0x0112


def _split(root, digit_images, split, count=3):
    images, labels = digit_images
    for i in range(count):
        save_gray(images[i], root / split / "images" / f"im{i}.png", 16)
        index = np.where(np.kron(images[i], np.ones((2, 2), np.uint8)) > 64, 1 + labels[i] % 2, 0)
        (root / split / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(index.astype(np.uint8)).save(root / split / "masks" / f"im{i}.png")
    (root / "classes.json").write_text(json.dumps({"classes": ["background", "even", "odd"]}))


def test_a_masks_folder_with_only_a_val_split_validates(tmp_path, digit_images):
    _split(tmp_path, digit_images, "val")
    data = build_data(f"masks:{tmp_path}", "segmentation", splits=("val",))
    assert len(data.val) == 3 and len(data.train) == 0
    with pytest.raises(DataError, match=r"has val/ but no train/; expected .*train/\{images"):
        build_data(f"masks:{tmp_path}", "segmentation", splits=SPLITS)


def test_validate_on_a_masks_folder_with_only_a_train_split_names_the_layout(
    tmp_path, digit_images, capsys
):
    _split(tmp_path / "data", digit_images, "train")
    saved = tmp_path / "model"
    model = zoo.create_model("fcn", backbone="test_resnet", num_classes=3, aux_head=False,
                             output_stride=32, pretrained_backbone=False)  # fmt: skip
    zoo.save_pretrained(model, saved, labels=["background", "even", "odd"])
    argv = ["--model", f"local-dir:{saved}", "--data", f"masks:{tmp_path / 'data'}",
            "--workers", "0", "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has train/ but no val/" in err and "{images,masks}" in err
    assert main([*argv, "--split", "train"]) == 0  # the split that is there validates


def _exif_photo(path, pixels, orientation):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    Image.fromarray(pixels).save(path, exif=exif)


@pytest.mark.filterwarnings("ignore:Photos whose EXIF orientation")
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_photo_turned_by_its_exif_orientation_keeps_its_mask_aligned(tmp_path, orientation):
    """Annotation tools draw on the stored pixels; the zoo shows photos upright; so the mask
    turns with its photo (it used to stay as stored: silently misaligned, or a size error)."""
    stored = np.zeros((12, 16, 3), np.uint8)
    stored[:, :4] = 255  # a white band on the stored left edge
    mask = np.zeros((12, 16), np.uint8)
    mask[:, :4] = 1  # labelled where the band is, on the stored pixels
    for root in ("images", "masks"):
        (tmp_path / "val" / root).mkdir(parents=True)
    _exif_photo(tmp_path / "val" / "images" / "p.png", stored, orientation)
    Image.fromarray(mask).save(tmp_path / "val" / "masks" / "p.png")
    (tmp_path / "classes.json").write_text(json.dumps({"classes": ["background", "band"]}))
    image, target = build_data(f"masks:{tmp_path}", "segmentation", splits=("val",)).val[0]
    upright = np.asarray(image)
    assert upright.shape[:2] == ((16, 12) if orientation in (6, 8) else (12, 16))
    band = upright[..., 0] > 127  # where the white band is once upright
    assert torch.equal(target, torch.from_numpy(band.astype(np.uint8)))


def test_validate_starts_no_more_workers_than_this_machine_has_cores():
    args = parser().parse_args(["--model", "x", "--data", "digits"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert args.workers == min(4, cores)


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_mask_drawn_on_the_upright_photo_is_left_as_it_is(tmp_path, orientation):
    """Tools that show photos upright (LabelMe, CVAT) save masks at the shown size: a quarter
    turn's size tells them from masks drawn on the stored pixels."""
    stored = np.zeros((12, 16, 3), np.uint8)
    for root in ("images", "masks"):
        (tmp_path / "val" / root).mkdir(parents=True)
    _exif_photo(tmp_path / "val" / "images" / "p.png", stored, orientation)
    upright_mask = np.zeros((16, 12), np.uint8)
    upright_mask[:3] = 1  # the top rows of the photo as shown
    Image.fromarray(upright_mask).save(tmp_path / "val" / "masks" / "p.png")
    (tmp_path / "classes.json").write_text(json.dumps({"classes": ["background", "top"]}))
    _, target = build_data(f"masks:{tmp_path}", "segmentation", splits=("val",)).val[0]
    assert torch.equal(target, torch.from_numpy(upright_mask))


def test_a_half_turned_photo_warns_that_its_mask_is_taken_as_stored(tmp_path):
    stored = np.zeros((12, 16, 3), np.uint8)
    for root in ("images", "masks"):
        (tmp_path / "val" / root).mkdir(parents=True)
    _exif_photo(tmp_path / "val" / "images" / "p.png", stored, 3)
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(tmp_path / "val" / "masks" / "p.png")
    (tmp_path / "classes.json").write_text(json.dumps({"classes": ["background", "top"]}))
    data = build_data(f"masks:{tmp_path}", "segmentation", splits=("val",))
    with pytest.warns(UserWarning, match="exiftool"):
        data.val[0]
