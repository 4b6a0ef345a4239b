"""Labelled examples a visitor uploads to the Evaluate tab: a zip, read in memory (no UI code).

Two layouts, as ``python -m train.validate`` reads them:

- **segmentation**: ``images/NAME.jpg`` with ``masks/NAME.png`` (the ``masks:`` layout; a
  ``val/`` folder is used alone when there is one), or ``NAME.jpg`` beside ``NAME_mask.png``.
  Masks hold class indices (255 = ignore), or RGB colours listed in a palette; class names
  come from ``classes.json`` (``{"classes": [...], "palette": [[r, g, b], ...]}``).
- **classification**: one folder per class (``cat/1.jpg``, ``dog/2.jpg``), the folder name
  being the class name (an ``ImageFolder``).

One folder wrapping everything (``my-data/images/...``) is looked through. Nothing is written
to disk, and the upload is bounded before anything is decoded: :data:`MAX_EXAMPLES` examples,
:data:`MAX_MEGAPIXELS` megapixels of images in all, :data:`MAX_UNPACKED_MB` megabytes
unpacked (a zip bomb is refused from its directory, before a byte is inflated). Every problem
is an :class:`UploadError` of one line that names the file inside the zip.
"""

from __future__ import annotations

import io
import json
import posixpath
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

import zoo

#: At most this many labelled examples per upload.
MAX_EXAMPLES = 40
#: At most this many megapixels of images per upload, all examples together.
MAX_MEGAPIXELS = 40
#: At most this many megabytes once unpacked, as the zip's directory declares them.
MAX_UNPACKED_MB = 256
#: At most this many entries in the zip.
MAX_MEMBERS = 2000
#: Mask value that marks pixels without a label.
IGNORE_INDEX = 255
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Folder names that hold images, and masks, in a segmentation zip.
IMAGE_DIRS = ("images", "image", "imgs", "img")
MASK_DIRS = ("masks", "mask", "labels", "annotations", "gt")
MASK_SUFFIX = "_mask"
SEGMENTATION_LAYOUT = (
    "images/NAME.jpg with masks/NAME.png and a classes.json, or NAME.jpg beside NAME_mask.png"
)
CLASSIFICATION_LAYOUT = "one folder per class: CLASS/NAME.jpg"


class UploadError(ValueError):
    """An upload the Evaluate tab cannot use; the message is one line for the visitor."""


@dataclass
class Example:
    """One labelled example.

    Attributes:
        name: Its path inside the zip (the image's).
        image: The photo, upright RGB.
        target: ``(H, W)`` uint8 class indices at the photo's size, 255 = ignore
            (segmentation), or the class index (classification).
    """

    name: str
    image: Image.Image
    target: np.ndarray | int


@dataclass
class Labelled:
    """What the zip holds, listed and checked but not decoded (see :func:`read`).

    Attributes:
        task: ``"segmentation"`` or ``"classification"``.
        classes: The class names, in index order (None: masks without a ``classes.json``).
        items: Per example, the image's path in the zip and its mask's path
            (segmentation) or class index (classification).
        palette: RGB colour key → class index, for colour masks (None: index masks).
        root: The folder everything sits in, inside the zip (``""`` at the top).
    """

    task: str
    classes: list[str] | None
    items: list[tuple[str, str | int]]
    palette: dict[int, int] | None = None
    root: str = ""
    examples: list[Example] = field(default_factory=list)

    def describe(self) -> str:
        """``"12 image + mask pairs, 3 classes"`` (one line)."""
        what = "image + mask pairs" if self.task == "segmentation" else "labelled images"
        classes = f", {len(self.classes)} classes" if self.classes else ""
        return f"{len(self.items)} {what}{classes}"


def open_zip(path: str | Path, shown_name: str) -> zipfile.ZipFile:
    """Open an uploaded zip after checking its directory against the bounds.

    Args:
        path: The uploaded file on the server.
        shown_name: The name the visitor knows it by (never the server's path).

    Raises:
        UploadError: Empty, not a zip, encrypted, too many entries, or more than
            :data:`MAX_UNPACKED_MB` unpacked.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise UploadError(f"{shown_name} is empty (0 bytes); upload a .zip of labelled examples.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UploadError(f"{shown_name} is not a readable zip file ({exc}).") from None
    members = archive.infolist()
    unpacked = sum(info.file_size for info in members)
    if len(members) > MAX_MEMBERS:
        archive.close()
        raise UploadError(f"{shown_name} has {len(members)} entries; the limit is {MAX_MEMBERS}.")
    if unpacked > MAX_UNPACKED_MB * 1_000_000:
        archive.close()
        raise UploadError(
            f"{shown_name} would unpack to {unpacked / 1e6:,.0f} MB; the limit is "
            f"{MAX_UNPACKED_MB} MB (refused before unpacking)."
        )
    if any(info.flag_bits & 0x1 for info in members):
        archive.close()
        raise UploadError(f"{shown_name} is encrypted; upload a zip without a password.")
    return archive


def _files(archive: zipfile.ZipFile, depth: int) -> tuple[list[str], str]:
    """The zip's file paths (no folders, no macOS/hidden files) relative to the one folder
    that wraps them all, and that folder (``""`` if none). A folder is a wrapper only while
    every file stays ``depth`` folders deep below it (a class folder is not a wrapper)."""
    names = [
        info.filename
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not posixpath.basename(info.filename).startswith(".")
    ]
    root = ""
    while names and all(n.count("/") > depth for n in names):
        top = {n.split("/", 1)[0] for n in names}
        if len(top) != 1:
            break
        prefix = f"{top.pop()}/"
        root += prefix
        names = [n[len(prefix) :] for n in names]
    return names, root


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _stem(name: str) -> str:
    return posixpath.splitext(posixpath.basename(name))[0]


def _pair_key(name: str, folders: Sequence[str]) -> tuple[str, str]:
    """``(group, stem)``: a file in an ``images/``/``masks/`` folder belongs to that folder's
    parent; any other file to its own folder."""
    folder = posixpath.dirname(name)
    if posixpath.basename(folder).lower() in folders:
        folder = posixpath.dirname(folder)
    return folder, _stem(name)


def _segmentation_items(names: list[str]) -> list[tuple[str, str | int]]:
    images, masks = [], {}
    for name in names:
        if not _is_image(name):
            continue
        folder = posixpath.basename(posixpath.dirname(name)).lower()
        if folder in MASK_DIRS:
            masks[_pair_key(name, MASK_DIRS)] = name
        elif _stem(name).lower().endswith(MASK_SUFFIX):
            group, stem = _pair_key(name, ())
            masks[(group, stem[: -len(MASK_SUFFIX)])] = name
        else:
            images.append(name)
    if not images:
        raise UploadError(f"The zip holds no images; expected {SEGMENTATION_LAYOUT}.")
    if not masks:
        raise UploadError(
            f"The zip holds {len(images)} images but no masks; expected {SEGMENTATION_LAYOUT}."
        )
    items: list[tuple[str, str | int]] = []
    for image in sorted(images):
        group, stem = _pair_key(image, IMAGE_DIRS)
        mask = masks.get((group, stem)) or masks.get((group, f"{stem}{MASK_SUFFIX}"))
        if mask is None:
            where = posixpath.join(group, "masks", f"{stem}.png")
            raise UploadError(f"{image} has no mask (expected {where} or {stem}{MASK_SUFFIX}.png).")
        items.append((image, mask))
    return items


def _classification_items(names: list[str]) -> tuple[list[str], list[tuple[str, str | int]]]:
    images = sorted(n for n in names if _is_image(n))
    if not images:
        raise UploadError(f"The zip holds no images; expected {CLASSIFICATION_LAYOUT}.")
    loose = [n for n in images if "/" not in n]
    if loose:
        raise UploadError(f"{loose[0]} is not in a class folder; expected {CLASSIFICATION_LAYOUT}.")
    folders = {n.split("/", 1)[0].lower() for n in images}
    if folders & set(IMAGE_DIRS) and folders & set(MASK_DIRS):
        raise UploadError(
            "The zip holds images with masks (segmentation); choose Segmentation, or upload "
            f"{CLASSIFICATION_LAYOUT}."
        )
    classes = sorted({n.split("/", 1)[0] for n in images})
    index = {name: i for i, name in enumerate(classes)}
    return classes, [(n, index[n.split("/", 1)[0]]) for n in images]


def _classes_json(archive: zipfile.ZipFile, member: str) -> tuple[list[str], dict[int, int] | None]:
    try:
        spec = json.loads(archive.read(member).decode("utf-8"))
        names = spec["classes"]
        if not isinstance(names, list) or not names:
            raise TypeError("classes must be a non-empty list")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise UploadError(
            f'{member} must be {{"classes": ["name", ...], "palette": [[r, g, b], ...]}}.'
        ) from None
    if len(names) > IGNORE_INDEX:
        raise UploadError(f"{member} names {len(names)} classes; masks hold at most 255.")
    palette = spec.get("palette")
    if palette is None:
        return [str(n) for n in names], None
    ok = isinstance(palette, list) and all(
        isinstance(c, list)
        and len(c) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c)
        for c in palette
    )
    if not ok or len(palette) != len(names):
        raise UploadError(
            f"{member}: the palette must give one [r, g, b] (integers 0–255) per class."
        )
    keys = {r << 16 | g << 8 | b: i for i, (r, g, b) in enumerate(palette)}
    return [str(n) for n in names], keys


def inspect(archive: zipfile.ZipFile, task: str) -> Labelled:
    """List and pair the zip's examples for ``task`` without decoding them.

    Raises:
        UploadError: No images, no masks, an image without its mask, an image outside a
            class folder, a malformed ``classes.json``, or more than :data:`MAX_EXAMPLES`.
    """
    names, root = _files(archive, 1 if task == "classification" else 0)
    if any(n.startswith("val/") for n in names):  # a train/val layout: validate on val
        names, root = [n[4:] for n in names if n.startswith("val/")], f"{root}val/"
    classes: list[str] | None
    palette = None
    if task == "segmentation":
        items = _segmentation_items(names)
        listed = [f"{root}classes.json"]
        if root.endswith("val/"):  # classes.json may sit beside train/ and val/
            listed.append(f"{root[:-4]}classes.json")
        found = next((m for m in listed if m in archive.namelist()), None)
        classes, palette = _classes_json(archive, found) if found else (None, None)
    else:
        classes, items = _classification_items(names)
    if len(items) > MAX_EXAMPLES:
        raise UploadError(
            f"The zip holds {len(items)} examples; the limit is {MAX_EXAMPLES} per upload."
        )
    rooted = [(root + image, root + t if isinstance(t, str) else t) for image, t in items]
    return Labelled(task, classes, rooted, palette, root)


def _read(archive: zipfile.ZipFile, member: str) -> bytes:
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UploadError(f"{member} cannot be unpacked ({exc}).") from None


def _too_many_pixels() -> UploadError:
    return UploadError(
        f"The images add up to more than {MAX_MEGAPIXELS} megapixels; the limit is "
        f"{MAX_MEGAPIXELS} per upload. Downscale them or upload fewer."
    )


def _image(archive: zipfile.ZipFile, member: str, budget: int) -> Image.Image:
    """The image ``member``, refused from its header when it is larger than ``budget``
    pixels (what is left of :data:`MAX_MEGAPIXELS`)."""
    data = _read(archive, member)
    try:
        with Image.open(io.BytesIO(data)) as header:  # reads the header only
            if header.width * header.height > budget:
                raise _too_many_pixels()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        pass  # zoo.load_image says what is wrong with it
    named = io.BytesIO(data)
    named.name = member  # zoo's messages name the file by this
    try:
        return zoo.load_image(named)
    except zoo.InvalidImageError as exc:
        message = str(exc).replace(posixpath.basename(member), member, 1)
        raise UploadError(message) from None


def _mask(
    archive: zipfile.ZipFile,
    member: str,
    image: Example,
    classes: int,
    palette: dict[int, int] | None,
) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(_read(archive, member))) as opened:
            if opened.size != image.image.size:
                raise UploadError(
                    f"{member} is {opened.size[0]}×{opened.size[1]} but its image {image.name} "
                    f"is {image.image.size[0]}×{image.image.size[1]}."
                )
            opened.load()
            raw = opened.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise UploadError(f"{member} is not a readable mask image ({exc}).") from None
    if raw.mode in ("RGB", "RGBA") and palette is not None:
        rgb = np.asarray(raw.convert("RGB"), dtype=np.int64)
        keys = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
        mask = np.full(keys.shape, IGNORE_INDEX, np.uint8)
        known = np.zeros(keys.shape, bool)
        for key, index in palette.items():
            hit = keys == key
            mask[hit], known[hit] = index, True
        if not known.all():
            colour = rgb[~known][0].tolist()
            raise UploadError(f"{member} has colour {colour}, which classes.json's palette lacks.")
        return mask
    if raw.mode not in ("L", "P", "I", "I;16"):
        raise UploadError(
            f"{member} is a {raw.mode} image; masks hold one class index per pixel (or RGB "
            "colours listed in classes.json's palette)."
        )
    values = np.asarray(raw).astype(np.int64)
    outside = (values < 0) | ((values >= classes) & (values != IGNORE_INDEX))
    if outside.any():
        found = np.unique(values[outside])[:5].tolist()
        raise UploadError(
            f"{member} holds class {', '.join(map(str, found))}, outside the {classes} classes "
            f"(0–{classes - 1}; {IGNORE_INDEX} = ignore)."
        )
    return values.astype(np.uint8)


def read(
    archive: zipfile.ZipFile, labelled: Labelled, classes: list[str] | None = None
) -> Labelled:
    """Decode every example of ``labelled``, checking each as it goes.

    Args:
        archive: The open zip (see :func:`open_zip`).
        labelled: What :func:`inspect` found.
        classes: Class names for masks without a ``classes.json`` (the models' own, when
            every model picked has the same ones).

    Returns:
        ``labelled`` with its ``classes`` set and its ``examples`` decoded.

    Raises:
        UploadError: An image or mask that cannot be read, a mask whose size is not its
            image's or with a class outside the classes, no class names, or more than
            :data:`MAX_MEGAPIXELS` megapixels in all.
    """
    names = labelled.classes or classes
    if not names:
        raise UploadError(
            'The masks have no class names: add classes.json ({"classes": ["background", ...]}) '
            "beside images/ and masks/, or pick models that share one label set."
        )
    budget = MAX_MEGAPIXELS * 1_000_000
    examples = []
    for image_member, target in labelled.items:
        image = _image(archive, image_member, budget)
        budget -= image.width * image.height
        example = Example(image_member, image, target if isinstance(target, int) else 0)
        if isinstance(target, str):
            example.target = _mask(archive, target, example, len(names), labelled.palette)
        examples.append(example)
    labelled.classes, labelled.examples = list(names), examples
    return labelled


def summary_of(labelled: Labelled) -> dict[str, Any]:
    """The upload in plain JSON: task, examples, classes."""
    return {"task": labelled.task, "examples": len(labelled.items), "classes": labelled.classes}
