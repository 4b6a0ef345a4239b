"""Data formats on disk, the digits tasks, bad-data errors and joint image/mask augmentation."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

import zoo
from tests.train.conftest import save_gray
from tests.train.layouts import ade20k_image, cityscapes_frame, image_list, voc_image
from train.data import DataError, build_data, parse_spec
from train.transforms import Transformed, segmentation_transforms

CFG = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "crop_pct": 1.0}


def test_digits_classification_split():
    data = build_data("digits", "classification", seed=0)
    assert (len(data.train), len(data.val)) == (1438, 359)  # 80/20
    image, label = data.val[0]
    assert image.shape == (3, 8, 8) and image.dtype == torch.uint8 and 0 <= label <= 9
    assert data.classes == [str(d) for d in range(10)]


def test_digits_canvas_labels_every_ink_pixel():
    data = build_data("digits", "segmentation", seed=0)
    assert data.classes[0] == "background" and len(data.classes) == 11
    image, mask = data.train[3]
    assert image.shape == (3, 64, 64) and mask.shape == (64, 64)
    ink = image[0] >= 64
    assert torch.equal(mask > 0, ink)  # labelled exactly where the digit's ink is
    assert set(mask.unique().tolist()) <= set(range(11))
    again_image, again_mask = data.train[3]
    assert torch.equal(image, again_image) and torch.equal(mask, again_mask)  # deterministic


def test_imagefolder_train_val_and_single_tree(tmp_path, digit_images):
    images, labels = digit_images
    for split, indices in (("train", range(40)), ("val", range(40, 70))):
        for i in indices:
            save_gray(images[i], tmp_path / "split" / split / f"digit{labels[i]}" / f"{i}.png")
    data = build_data(f"imagefolder:{tmp_path / 'split'}", "classification")
    assert len(data.train) == 40 and len(data.val) == 30
    image, label = data.train[0]
    assert image.mode == "RGB" and data.classes[label].startswith("digit")
    for i in range(50):
        save_gray(images[i], tmp_path / "tree" / f"digit{labels[i]}" / f"{i}.png")
    tree = build_data(f"imagefolder:{tmp_path / 'tree'}", "classification")
    assert (len(tree.train), len(tree.val)) == (45, 5)


def _cifar_batch(path, images, labels):
    data = np.stack([np.kron(im, np.ones((4, 4), np.uint8)) for im in images])  # (N, 32, 32)
    rgb = np.repeat(data[:, None], 3, axis=1).reshape(len(images), -1)  # (N, 3072) CHW rows
    with open(path, "wb") as handle:
        pickle.dump({"data": rgb, "labels": list(map(int, labels))}, handle)


def test_cifar10_python_batches(tmp_path, digit_images, monkeypatch):
    images, labels = digit_images
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for b in range(1, 6):
        _cifar_batch(root / f"data_batch_{b}", images[b * 10 : b * 10 + 10], labels[:10])
    _cifar_batch(root / "test_batch", images[:7], labels[:7])
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    with open(root / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [n.decode() for n in names]}, handle)
    # torchvision checks the md5 sums of the official files; these are stand-ins
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": None})
    data = build_data(f"cifar10:{tmp_path}", "classification")
    assert (len(data.train), len(data.val)) == (50, 7)
    assert data.classes[3] == "cat"
    image, label = data.val[1]
    assert image.size == (32, 32) and label == labels[1]


def test_cifar10_missing_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        build_data(f"cifar10:{tmp_path}", "classification")


def test_voc_layout(tmp_path, digit_images):
    images, _ = digit_images
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / sub).mkdir(parents=True)
    names = [f"2007_{i:06d}" for i in range(6)]
    for i, name in enumerate(names):
        save_gray(images[i], voc / "JPEGImages" / f"{name}.jpg", 32)
        mask = np.where(np.kron(images[i], np.ones((4, 4), np.uint8)) > 64, 15, 0).astype(np.uint8)
        mask[0, :] = 255  # VOC's "void" border
        indexed = Image.frombytes("P", (32, 32), mask.tobytes())
        indexed.putpalette([v for rgb in zoo.datasets.voc_palette(256) for v in rgb])
        indexed.save(voc / "SegmentationClass" / f"{name}.png")
    (voc / "ImageSets/Segmentation/train.txt").write_text("\n".join(names[:4]))
    (voc / "ImageSets/Segmentation/val.txt").write_text("\n".join(names[4:]))
    data = build_data(f"voc:{tmp_path}", "segmentation")
    assert (len(data.train), len(data.val)) == (4, 2) and data.classes[15] == "person"
    _, mask = data.val[0]
    assert isinstance(mask, tv_tensors.Mask) and set(mask.unique().tolist()) <= {0, 15, 255}
    assert (mask[0] == 255).all()


def _mask_dataset(root, digit_images, count=10, color=False):
    images, labels = digit_images
    palette = [[0, 0, 0], [255, 0, 0], [0, 255, 0]]
    for i in range(count):
        save_gray(images[i], root / "images" / f"im{i}.png", 16)
        big = np.kron(images[i], np.ones((2, 2), np.uint8))
        index = np.where(big > 64, 1 + (labels[i] % 2), 0).astype(np.uint8)  # (16, 16)
        if color:
            Image.fromarray(np.asarray(palette, np.uint8)[index]).save(
                root / "masks" / f"im{i}.png"
            )
        else:
            (root / "masks").mkdir(parents=True, exist_ok=True)
            Image.fromarray(index).save(root / "masks" / f"im{i}.png")
    spec = {"classes": ["background", "even", "odd"]}
    if color:
        spec["palette"] = palette
    (root / "classes.json").write_text(json.dumps(spec))


@pytest.mark.parametrize("color", [False, True], ids=["index", "color"])
def test_mask_folder(tmp_path, digit_images, color):
    (tmp_path / "masks").mkdir()
    _mask_dataset(tmp_path, digit_images, color=color)
    data = build_data(f"masks:{tmp_path}", "segmentation")
    assert (len(data.train), len(data.val)) == (9, 1)
    assert data.classes == ["background", "even", "odd"]
    _, mask = data.train[0]
    assert mask.shape == (16, 16) and set(mask.unique().tolist()) <= {0, 1, 2}


def test_bad_masks_name_the_file(tmp_path, digit_images):
    (tmp_path / "masks").mkdir()
    _mask_dataset(tmp_path, digit_images)
    (tmp_path / "masks" / "im3.png").unlink()
    with pytest.raises(DataError, match=r"im3\.png has no mask"):
        build_data(f"masks:{tmp_path}", "segmentation")
    Image.new("L", (10, 10)).save(tmp_path / "masks" / "im3.png")  # wrong size
    data = build_data(f"masks:{tmp_path}", "segmentation")
    bad = next(
        i for i, (img, _) in enumerate(data.train.pairs + data.val.pairs) if img.stem == "im3"
    )
    dataset, index = (
        (data.train, bad) if bad < len(data.train) else (data.val, bad - len(data.train))
    )
    with pytest.raises(DataError, match=r"im3\.png is 10×10 but its image im3\.png is 16×16"):
        dataset[index]
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(tmp_path / "masks" / "im3.png")
    with pytest.raises(DataError, match=r"im3\.png has labels \[7\] outside the 3 classes"):
        dataset[index]


def test_unknown_colour_names_the_file(tmp_path, digit_images):
    (tmp_path / "masks").mkdir()
    _mask_dataset(tmp_path, digit_images, color=True)
    Image.new("RGB", (16, 16), (1, 2, 3)).save(tmp_path / "masks" / "im0.png")
    data = build_data(f"masks:{tmp_path}", "segmentation")
    dataset = data.train if data.train.pairs[0][0].stem == "im0" else data.val
    with pytest.raises(DataError, match=r"im0\.png has colours that are not in the palette"):
        dataset[[p[0].stem for p in dataset.pairs].index("im0")]


@pytest.mark.parametrize("spec", ["coco:x", "masks", "imagefolder:"])
def test_bad_specs(spec):
    with pytest.raises(DataError):
        parse_spec(spec)


def test_wrong_task_for_format(tmp_path):
    with pytest.raises(DataError, match="segmentation data set"):
        build_data(f"voc:{tmp_path}", "classification")


def test_image_and_mask_move_together():
    torch.manual_seed(0)
    quadrant = torch.zeros(40, 60, dtype=torch.int64)  # labels 0..3 in the four quadrants
    quadrant[:20, 30:], quadrant[20:, :30], quadrant[20:, 30:] = 1, 2, 3
    levels = torch.tensor([30, 90, 150, 210])
    image = tv_tensors.Image(levels[quadrant].to(torch.uint8).expand(3, -1, -1).clone())
    pairs = [(image, tv_tensors.Mask(quadrant))]
    transform = segmentation_transforms(CFG, 48, train=True, hflip=0.5, scale=(0.5, 1.5))
    padded = 0
    for _ in range(20):
        out_image, out_mask = Transformed(pairs, transform)[0]
        assert out_image.shape == (3, 48, 48) and out_mask.shape == (48, 48)
        pixel = (out_image[0] * 0.5 + 0.5) * 255  # undo normalisation
        valid = out_mask != 255
        agree = (pixel[valid] - levels[out_mask[valid]]).abs() < 10  # image matches its label
        assert agree.float().mean() > 0.9  # (bilinear seams between quadrants differ)
        padded += int((~valid).any())
    assert padded > 0  # crops larger than the scaled image pad the mask with 255


# -- benchmark layouts: Cityscapes, ADE20K, VOC with SBD --------------------------------------
def _all_ids() -> np.ndarray:
    """A ``(16, 16)`` label image holding each value 0–255 once, row by row."""
    return np.arange(256, dtype=np.uint8).reshape(16, 16)


def test_cityscapes_label_ids_are_mapped_to_the_19_train_ids(tmp_path):
    label = _all_ids()
    cityscapes_frame(tmp_path, "val", "frankfurt", 1, label, kind="labelIds")
    cityscapes_frame(tmp_path, "train", "aachen", 2, np.zeros((8, 12)), kind="labelIds")
    data = build_data(f"cityscapes:{tmp_path}", "segmentation")
    assert data.name == "cityscapes" and len(data.classes) == 19 and data.classes[13] == "car"
    assert data.palette[0] == (128, 64, 128)  # road, from zoo.dataset_info("cityscapes")
    assert (len(data.train), len(data.val)) == (1, 1)
    image, mask = data.val[0]
    assert image.size == (16, 16) and mask.dtype == torch.uint8 and mask.shape == (16, 16)
    expected = np.full(256, 255)
    official = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
    for label_id, train_id in official.items():
        expected[label_id] = train_id
    assert mask.flatten().tolist() == expected.tolist()
    assert data.augment.hflip == 0.5 and data.augment.scale == (0.5, 2.0)


def test_cityscapes_label_train_ids_are_used_as_they_are(tmp_path):
    label = np.array([[0, 5, 18, 255], [13, 13, 255, 1]])
    cityscapes_frame(tmp_path, "val", "lindau", 1, label)
    cityscapes_frame(tmp_path, "val", "munster", 2, np.array([[7, 26], [0, 1]]), kind="labelIds")
    data = build_data(f"cityscapes:{tmp_path}", "segmentation", splits=("val",))
    assert len(data.train) == 0 and len(data.val) == 2  # no train/ needed for evaluation
    assert data.val[0][1].tolist() == label.tolist()
    assert data.val[1][1].tolist() == [[0, 13], [255, 255]]  # the labelIds frame, mapped
    cityscapes_frame(tmp_path, "val", "lindau", 3, np.array([[19, 0], [0, 0]]))  # sorts 2nd
    with pytest.raises(DataError, match=r"lindau_000000_000003_gtFine_labelTrainIds\.png has "
                       r"labels \[19\] outside the 19 classes"):  # fmt: skip
        build_data(f"cityscapes:{tmp_path}", "segmentation", splits=("val",)).val[1]


def test_cityscapes_missing_parts_name_the_path(tmp_path):
    with pytest.raises(DataError, match=r"leftImg8bit/val \(expected DIR/leftImg8bit/"):
        build_data(f"cityscapes:{tmp_path}", "segmentation", splits=("val",))
    image = cityscapes_frame(tmp_path, "val", "ulm", 1, np.zeros((4, 4)))
    with pytest.raises(DataError, match=r"leftImg8bit/train"):
        build_data(f"cityscapes:{tmp_path}", "segmentation")  # training needs both splits
    next(image.parent.parent.parent.parent.glob("gtFine/val/ulm/*labelTrainIds.png")).unlink()
    with pytest.raises(DataError, match=r"ulm_000000_000001_leftImg8bit\.png has no label"):
        build_data(f"cityscapes:{tmp_path}", "segmentation", splits=("val",))


def test_ade20k_reduces_the_zero_label(tmp_path):
    annotation = np.array([[0, 1, 2, 150], [255, 150, 1, 0]])
    ade20k_image(tmp_path, "validation", "ADE_val_00000001", annotation)
    ade20k_image(tmp_path, "training", "ADE_train_00000001", np.ones((6, 9)))
    data = build_data(f"ade20k:{tmp_path}", "segmentation")  # the parent of ADEChallengeData2016
    assert data.name == "ade20k" and len(data.classes) == 150 and data.classes[0] == "wall"
    assert data.classes[149] == "flag" and data.palette[0] == (120, 120, 120)
    _, mask = data.val[0]
    assert mask.dtype == torch.uint8
    assert mask.tolist() == [[255, 0, 1, 149], [255, 149, 0, 255]]
    ade20k_image(tmp_path, "validation", "ADE_val_00000002", np.array([[151, 3]]))
    data = build_data(f"ade20k:{tmp_path / 'ADEChallengeData2016'}", "segmentation")
    with pytest.raises(DataError, match=r"ADE_val_00000002\.png has labels \[151\] that are "
                       r"not ADE20K labels 0–150"):  # fmt: skip
        data.val[1]


def test_voc_with_sbd_trains_on_train_aug_and_validates_on_val(tmp_path):
    voc = tmp_path / "VOCdevkit" / "VOC2012"
    border = np.zeros((12, 10), np.uint8)
    border[3:9, 2:8] = 15
    border[3, 2:8] = border[8, 2:8] = 255  # VOC's void border
    for name in ("2007_000001", "2007_000002", "2007_000003"):  # VOC train, val, val
        voc_image(voc, name, border)
    for name in ("2008_000001", "2008_000002"):  # SBD only
        voc_image(voc, name, np.full((7, 9), 12), folder="SegmentationClassAug")
    image_list(voc, "train", ["2007_000001"])
    image_list(voc, "val", ["2007_000002", "2007_000003"])
    image_list(voc, "trainaug", ["2007_000001", "2008_000001", "2008_000002", "2007_000003"])
    data = build_data(f"voc:{tmp_path}", "segmentation")
    assert data.name == "voc12aug"
    stems = [image.stem for image, _ in data.train.pairs]
    assert stems == ["2007_000001", "2008_000001", "2008_000002"]  # val never trained on
    assert [m.parent.name for _, m in data.train.pairs] == ["SegmentationClass"] + [
        "SegmentationClassAug"
    ] * 2
    assert [image.stem for image, _ in data.val.pairs] == ["2007_000002", "2007_000003"]
    _, mask = data.val[0]
    assert mask.dtype == torch.uint8 and mask.tolist() == border.tolist()  # palette indices
    assert data.train[1][1].unique().tolist() == [12]
    only_val = build_data(f"voc:{voc}", "segmentation", splits=("val",))  # VOC2012 itself
    assert len(only_val.train) == 0 and len(only_val.val) == 2


def test_voc_missing_files_name_them(tmp_path):
    voc = tmp_path / "VOC2012"
    voc_image(voc, "a", np.zeros((4, 4)))
    image_list(voc, "train", ["a"])
    with pytest.raises(DataError, match=r"ImageSets/Segmentation/val\.txt"):
        build_data(f"voc:{voc}", "segmentation")
    image_list(voc, "val", ["a", "b"])
    with pytest.raises(DataError, match=r"JPEGImages/b\.jpg is listed but missing"):
        build_data(f"voc:{voc}", "segmentation")
