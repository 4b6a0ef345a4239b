"""The Evaluate tab's uploads: the layouts it reads, and one line for each bad upload."""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from demo import labelled
from demo.labelled import UploadError, inspect, open_zip, read

from .labelled_zips import class_zip, jpeg, person_zip, png, zip_bomb, zip_of


def _load(path, task="segmentation", classes=None):
    archive = open_zip(path, path.name)
    with archive:
        return read(archive, inspect(archive, task), classes)


def _refused(path, task="segmentation", classes=None) -> str:
    start = time.monotonic()
    with pytest.raises(UploadError) as caught:
        _load(path, task, classes)
    assert time.monotonic() - start < 5.0
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300, message
    assert "/tmp" not in message and str(path.parent) not in message  # no server paths
    return message


def test_images_and_masks_with_classes_json(photos, tmp_path):
    data = _load(person_zip(tmp_path / "p.zip", photos, root="my-data/"))
    assert data.task == "segmentation" and data.classes == ["background", "person"]
    assert [e.name for e in data.examples] == [
        "my-data/images/astronaut.jpg", "my-data/images/coffee.jpg",
        "my-data/images/grace_hopper.jpg",
    ]  # fmt: skip
    first = data.examples[0]
    assert first.image.size == (320, 240) and first.target.shape == (240, 320)
    assert set(np.unique(first.target)) == {0, 1}
    assert set(np.unique(data.examples[1].target)) == {0}


def test_name_mask_pairs_palette_and_a_val_folder(photos, tmp_path):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[10:, 20:40] = (255, 0, 0)
    spec = {"classes": ["sky", "rocket"], "palette": [[0, 0, 0], [255, 0, 0]]}
    path = zip_of(tmp_path / "pairs.zip", {
        "val/a.jpg": image, "val/a_mask.png": png(rgb), "train/b.jpg": image,
        "classes.json": json.dumps(spec).encode(),
    })  # fmt: skip
    data = _load(path)
    assert [e.name for e in data.examples] == ["val/a.jpg"]  # val/ alone, as train.validate
    assert data.classes == ["sky", "rocket"]
    assert int(data.examples[0].target.sum()) == 38 * 20  # red → class 1


def test_class_folders(photos, tmp_path):
    data = _load(class_zip(tmp_path / "c.zip", photos), "classification")
    assert data.classes == ["cat", "coffee", "person"]
    assert [(e.name, e.target) for e in data.examples] == [
        ("cat/chelsea_cat.jpg", 0), ("coffee/coffee.jpg", 1), ("person/astronaut.jpg", 2),
    ]  # fmt: skip


def test_masks_without_class_names_take_the_models_shared_ones(photos, tmp_path):
    path = person_zip(tmp_path / "p.zip", photos, classes=False)
    assert _load(path, classes=["background", "person"]).classes == ["background", "person"]
    assert "classes.json" in _refused(path)


def test_bad_uploads_get_one_line_each(photos, tmp_path):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    empty = tmp_path / "empty.zip"
    empty.write_bytes(b"")
    assert "empty (0 bytes)" in _refused(empty)
    text = tmp_path / "notes.zip"
    text.write_text("not a zip")
    assert "not a readable zip" in _refused(text)
    no_masks = zip_of(tmp_path / "nomask.zip", {"images/a.jpg": image, "images/b.jpg": image})
    assert "2 images but no masks" in _refused(no_masks)
    classes = json.dumps({"classes": ["background", "person"]}).encode()
    mismatch = zip_of(tmp_path / "size.zip", {
        "images/a.jpg": image, "masks/a.png": png(np.zeros((10, 10), np.uint8)),
        "classes.json": classes,
    })  # fmt: skip
    assert "masks/a.png is 10×10 but its image images/a.jpg is 64×48" in _refused(mismatch)
    outside = zip_of(tmp_path / "class.zip", {
        "images/a.jpg": image, "masks/a.png": png(np.full((48, 64), 7, np.uint8)),
        "classes.json": classes,
    })  # fmt: skip
    message = _refused(outside)
    assert "masks/a.png holds class 7" in message and "2 classes" in message
    blank = png(np.zeros((48, 64), np.uint8))
    lonely = zip_of(tmp_path / "lonely.zip", {
        "images/a.jpg": image, "images/b.jpg": image, "masks/a.png": blank, "classes.json": classes,
    })  # fmt: skip
    assert "images/b.jpg has no mask" in _refused(lonely)
    corrupt = zip_of(tmp_path / "corrupt.zip", {
        "images/a.jpg": image[:100], "masks/a.png": png(np.zeros((48, 64), np.uint8)),
        "classes.json": classes,
    })  # fmt: skip
    assert "images/a.jpg" in _refused(corrupt)
    loose = zip_of(tmp_path / "loose.zip", {"a.jpg": image})
    assert "not in a class folder" in _refused(loose, "classification")
    seg = person_zip(tmp_path / "seg.zip", photos)
    assert "choose Segmentation" in _refused(seg, "classification")


def test_a_zip_bomb_is_refused_from_its_directory(tmp_path):
    bomb = zip_bomb(tmp_path / "bomb.zip", labelled.MAX_UNPACKED_MB + 1)
    assert bomb.stat().st_size < 2_000_000  # packed
    assert "would unpack to 257 MB; the limit is 256 MB" in _refused(bomb)


def test_bounds_on_examples_and_megapixels(photos, tmp_path, monkeypatch):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    folders = {f"cat/{i}.jpg": image for i in range(labelled.MAX_EXAMPLES + 1)}
    many = zip_of(tmp_path / "many.zip", folders)
    assert f"holds {labelled.MAX_EXAMPLES + 1} examples; the limit is" in _refused(
        many, "classification"
    )
    monkeypatch.setattr(labelled, "MAX_MEGAPIXELS", 0.005)  # 5,000 pixels: the second image
    two = zip_of(tmp_path / "two.zip", {"cat/a.jpg": image, "cat/b.jpg": image})
    assert "cat/b.jpg takes the images past 0.005 megapixels" in _refused(two, "classification")


def test_an_encrypted_member_is_refused(tmp_path):
    path = zip_of(tmp_path / "lock.zip", {"cat/a.jpg": b"x"})
    data = bytearray(path.read_bytes())
    for offset in (6, data.rfind(b"PK\x01\x02") + 8):  # the local and the central header's flags
        data[offset] |= 1
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).infolist()[0].flag_bits & 1
    assert "encrypted" in _refused(path, "classification")


def test_a_wrapping_folder_beside_other_files(photos, tmp_path):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    classes = json.dumps({"classes": ["sky", "astronaut"]}).encode()
    blank = png(np.zeros((48, 64), np.uint8))
    folders = zip_of(tmp_path / "c.zip", {
        "README.md": b"notes", "data/cat/a.jpg": image, "data/dog/b.jpg": image,
    })  # fmt: skip
    assert _load(folders, "classification").classes == ["cat", "dog"]
    masks = zip_of(tmp_path / "s.zip", {
        "README.md": b"notes", "data/images/city/a.jpg": image, "data/masks/city/a.png": blank,
        "data/classes.json": classes,
    })  # fmt: skip
    data = _load(masks)
    assert data.classes == ["sky", "astronaut"]  # its classes.json, not the models' names
    assert [e.name for e in data.examples] == ["data/images/city/a.jpg"]  # sub-folders pair
    lonely = zip_of(tmp_path / "l.zip", {
        "data/images/a.jpg": image, "data/images/b.jpg": image, "data/masks/a.png": blank,
    })  # fmt: skip
    assert "data/images/b.jpg has no mask (expected data/masks/b.png" in _refused(lonely)


def test_two_files_of_one_name_are_refused(photos, tmp_path):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    blank = png(np.zeros((48, 64), np.uint8))
    path = zip_of(tmp_path / "d.zip", {
        "images/a.jpg": image, "masks/a.png": blank, "masks/a.jpg": blank,
    })  # fmt: skip
    assert "masks/a.png and masks/a.jpg are two masks of one name" in _refused(path)


def test_a_photo_s_exif_orientation_turns_its_mask(photos, tmp_path):
    """A photo stored 64×48 with orientation 6 (shown 48×64) and its mask drawn on the stored
    pixels: the mask is turned with the photo, as train.validate turns it."""
    photo = Image.open(photos["astronaut.png"]).convert("RGB").resize((64, 48))
    exif = photo.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", exif=exif.tobytes())
    stored = np.zeros((48, 64), np.uint8)
    stored[:, :8] = 1  # the stored photo's left edge
    classes = json.dumps({"classes": ["background", "edge"]}).encode()
    path = zip_of(tmp_path / "exif.zip", {
        "images/a.jpg": buffer.getvalue(), "masks/a.png": png(stored), "classes.json": classes,
    })  # fmt: skip
    (example,) = _load(path).examples
    assert example.image.size == (48, 64) and example.target.shape == (64, 48)
    assert example.target[:8].all() and not example.target[8:].any()  # left edge → top


def test_a_damaged_member_is_one_line(photos, tmp_path):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    path = zip_of(tmp_path / "z.zip", {"cat/a.jpg": image})
    data = bytearray(path.read_bytes())
    start = data.find(b"cat/a.jpg") + len("cat/a.jpg")
    data[start + 50 : start + 150] = bytes(100)  # the deflated stream, zeroed
    path.write_bytes(bytes(data))
    assert "cat/a.jpg cannot be unpacked" in _refused(path, "classification")


def _declare_size(path, member: str, size: int) -> None:
    """Make the zip's local and central headers of ``member`` declare ``size`` bytes."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    local = data.find(b"PK\x03\x04")
    while data[local + 30 : local + 30 + len(name)] != name:
        local = data.find(b"PK\x03\x04", local + 4)
    data[local + 22 : local + 26] = size.to_bytes(4, "little")
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_hostile_zips_are_one_line_each_and_cheap(photos, tmp_path):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    lying = zip_of(tmp_path / "lying.zip", {"cat/a.jpg": image[:200] + bytes(50_000_000)})
    _declare_size(lying, "cat/a.jpg", 300)  # 50 MB inflate behind a 300-byte claim
    start = time.monotonic()
    assert "cat/a.jpg" in _refused(lying, "classification")
    assert time.monotonic() - start < 1.0  # never inflated past the claim
    bzip = tmp_path / "bzip.zip"
    with zipfile.ZipFile(bzip, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("cat/a.jpg", image)
    assert "compression method 12" in _refused(bzip, "classification")
    nested = zip_of(tmp_path / "nested.zip", {
        "images/a.jpg": image, "masks/a.png": png(np.zeros((48, 64), np.uint8)),
        "classes.json": b"[" * 100_000,
    })  # fmt: skip
    assert "classes.json must be" in _refused(nested)
    huge = zip_of(tmp_path / "huge.zip", {"images/a.jpg": image, "masks/a.png": b"",
                                          "classes.json": b" " * 2_000_000})  # fmt: skip
    assert "classes.json is 2,000,000 bytes; the limit is 1,000,000" in _refused(huge)
    twice = json.dumps({"classes": ["a", "b"], "palette": [[1, 2, 3], [1, 2, 3]]}).encode()
    same = zip_of(tmp_path / "same.zip", {"images/a.jpg": image, "masks/a.png": b"",
                                          "classes.json": twice})  # fmt: skip
    assert "two classes one colour" in _refused(same)
    eps = zip_of(
        tmp_path / "eps.zip", {"cat/a.jpg": b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n"}
    )
    assert "cat/a.jpg is not an image" in _refused(eps, "classification")
    control = zip_of(tmp_path / "control.zip", {"cat/a\nb.jpg": image})
    assert "control character" in _refused(control, "classification")


def test_backslash_names_and_one_bit_masks_are_read(photos, tmp_path):
    image, _ = jpeg(photos["astronaut.png"], (64, 48))
    bits = Image.fromarray(np.zeros((48, 64), np.uint8)).convert("1")
    buffer = io.BytesIO()
    bits.save(buffer, "PNG")
    classes = json.dumps({"classes": ["background", "person"]}).encode()
    path = zip_of(tmp_path / "win.zip", {"images\\a.jpg": image, "masks\\a.png": buffer.getvalue(),
                                         "classes.json": classes})  # fmt: skip
    (example,) = _load(path).examples
    assert example.name == "images/a.jpg" and not example.target.any()
