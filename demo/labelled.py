"""Labelled examples a visitor uploads to the Evaluate tab: a zip, read in memory (no UI code).

Two layouts:

- **segmentation**: ``images/NAME.jpg`` with ``masks/NAME.png`` (the ``masks:`` layout of
  ``python -m train.validate``; sub-folders pair too, ``images/city/a.jpg`` with
  ``masks/city/a.png``; a ``val/`` folder is used alone when there is one), or ``NAME.jpg``
  beside ``NAME_mask.png``. Masks hold class indices (255 = ignore), or RGB colours listed in
  a palette; class names come from ``classes.json`` (``{"classes": [...], "palette":
  [[r, g, b], ...]}``). A photo's EXIF orientation turns its mask too, as in training.
  (The VOC, Cityscapes and ADE20K folder layouts are not read here: their label ids need the
  data set's own mapping; ``python -m train.validate --data cityscapes:PATH`` reads them.)
- **classification**: one folder per class (``cat/1.jpg``, ``dog/2.jpg``), the folder name
  being the class name (an ``ImageFolder``).

One folder wrapping the images and ``classes.json`` (``my-data/images/...``) is looked
through. Nothing is written to disk, and the upload is bounded before anything is decoded:
:data:`MAX_EXAMPLES` examples, :data:`MAX_MEGAPIXELS` megapixels of images in all,
:data:`MAX_UNPACKED_MB` megabytes unpacked (a zip bomb is refused from its directory, before a
byte is inflated: ``zipfile`` never inflates a member past its declared size). Every problem
is an :class:`UploadError` of one line that names the file by its path inside the zip.
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
from PIL import Image, ImageOps, UnidentifiedImageError

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
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
#: The formats Pillow may read an image or mask as, whatever its name says (never, say,
#: PostScript, which Pillow hands to Ghostscript).
PIL_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG covers MPO
SUPPORTED = "PNG, JPEG, WebP, GIF, BMP or TIFF"
#: Largest ``classes.json``, in bytes.
MAX_CLASSES_BYTES = 1_000_000
#: Folder names that hold images, and masks, in a segmentation zip.
IMAGE_DIRS = ("images", "image", "imgs", "img")
MASK_DIRS = ("masks", "mask", "labels", "annotations", "gt")
MASK_SUFFIX = "_mask"
CLASSES_FILE = "classes.json"
_ORIENTATION = 0x0112  # the EXIF tag
NO_CLASS_NAMES = (
    'The masks have no class names: add classes.json ({"classes": ["background", ...]}) beside '
    "images/ and masks/, or pick models that share one label set."
)
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
        examples: The decoded examples, once :func:`read` has run (empty before).
        named: Whether the class names come from the zip (False: from the models, for masks
            without a ``classes.json``).
    """

    task: str
    classes: list[str] | None
    items: list[tuple[str, str | int]]
    palette: dict[int, int] | None = None
    named: bool = True
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
        UploadError: Empty, not a zip, encrypted, too many entries, more than
            :data:`MAX_UNPACKED_MB` unpacked, a compression method other than Deflate, a
            name twice or a name with a control character.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise UploadError(f"{shown_name} is empty (0 bytes); upload a .zip of labelled examples.")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise UploadError(f"{shown_name} is not a readable zip file.") from None
    try:
        _check_directory(archive, shown_name)
    except UploadError:
        archive.close()
        raise
    return archive


def _check_directory(archive: zipfile.ZipFile, shown_name: str) -> None:
    """Refuse what the zip's directory already shows to be unusable; names written with
    backslashes (older Windows tools) are read with slashes."""
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise UploadError(f"{shown_name} has {len(members)} entries; the limit is {MAX_MEMBERS}.")
    unpacked = sum(info.file_size for info in members)
    if unpacked > MAX_UNPACKED_MB * 1_000_000:
        raise UploadError(
            f"{shown_name} would unpack to {unpacked / 1e6:,.0f} MB; the limit is "
            f"{MAX_UNPACKED_MB} MB (refused before unpacking)."
        )
    if any(info.flag_bits & 0x1 for info in members):
        raise UploadError(f"{shown_name} is encrypted; upload a zip without a password.")
    for info in members:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UploadError(
                f"{shown_name} packs {info.filename!r} with compression method "
                f"{info.compress_type}; zip it again with Deflate (the usual method)."
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in info.filename):
            raise UploadError(f"{shown_name} has a file name with a control character in it.")
        if "\\" in info.filename:
            archive.NameToInfo.pop(info.filename, None)
            info.filename = info.filename.replace("\\", "/")
            archive.NameToInfo[info.filename] = info
    names = [info.filename for info in members]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise UploadError(f"{shown_name} holds {twice} twice; zip it again.")


def _files(archive: zipfile.ZipFile) -> list[str]:
    """The zip's file paths: no folders, no macOS or hidden files."""
    return [
        info.filename
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith("__MACOSX/")
        and not any(part.startswith(".") for part in info.filename.split("/"))
    ]


def _root(names: list[str], depth: int) -> str:
    """The folder that wraps every image and ``classes.json`` (``""`` if none; other files,
    a README say, are not looked at). A folder is a wrapper only while every image stays
    ``depth`` folders deep below it: a class folder is not a wrapper."""
    relevant = [n for n in names if _is_image(n) or posixpath.basename(n) == CLASSES_FILE]
    root = ""
    while relevant and all(n.count("/") > depth for n in relevant):
        top = {n.split("/", 1)[0] for n in relevant}
        if len(top) != 1:
            break
        prefix = f"{top.pop()}/"
        root += prefix
        relevant = [n[len(prefix) :] for n in relevant]
    return root


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _stem(name: str) -> str:
    return posixpath.splitext(posixpath.basename(name))[0]


def _pair_key(name: str, folders: Sequence[str]) -> tuple[str, str] | None:
    """``(folder with * for the images/masks folder, stem)`` when a folder of ``name`` is one
    of ``folders`` (``images/city/a.jpg`` and ``masks/city/a.png`` both give
    ``("*/city", "a")``), else None."""
    parts = posixpath.dirname(name).split("/")
    for i, part in enumerate(parts):
        if part.lower() in folders:
            return "/".join([*parts[:i], "*", *parts[i + 1 :]]), _stem(name)
    return None


def _mask_key(name: str) -> tuple[str, str] | None:
    """Where a mask pairs: a file in a masks folder, or ``NAME_mask.png`` beside its image."""
    key = _pair_key(name, MASK_DIRS)
    if key is not None:
        return key
    stem = _stem(name)
    if stem.lower().endswith(MASK_SUFFIX):
        return posixpath.dirname(name), stem[: -len(MASK_SUFFIX)]
    return None


def _segmentation_items(names: list[str], root: str) -> list[tuple[str, str | int]]:
    images: dict[tuple[str, str], str] = {}
    masks: dict[tuple[str, str], str] = {}
    for name in (n for n in names if _is_image(n)):
        key = _mask_key(name)
        found, kind = (masks, "masks") if key is not None else (images, "images")
        if key is None:
            key = _pair_key(name, IMAGE_DIRS) or (posixpath.dirname(name), _stem(name))
        if key in found:
            raise UploadError(
                f"{root}{found[key]} and {root}{name} are two {kind} of one name; rename one."
            )
        found[key] = name
    if not images:
        raise UploadError(f"The zip holds no images; expected {SEGMENTATION_LAYOUT}.")
    if not masks:
        raise UploadError(
            f"The zip holds {len(images)} images but no masks; expected {SEGMENTATION_LAYOUT}."
        )
    items: list[tuple[str, str | int]] = []
    for key, image in sorted(images.items(), key=lambda item: item[1]):
        mask = masks.get(key)
        if mask is None:
            folder, stem = key
            where = (
                folder.replace("*", "masks") if "*" in folder else posixpath.join(folder, "masks")
            )
            raise UploadError(
                f"{root}{image} has no mask (expected {root}{posixpath.join(where, stem)}.png "
                f"or {stem}{MASK_SUFFIX}.png beside it)."
            )
        items.append((image, mask))
    return items


def _classification_items(
    names: list[str], root: str
) -> tuple[list[str], list[tuple[str, str | int]]]:
    images = sorted(n for n in names if _is_image(n))
    if not images:
        raise UploadError(f"The zip holds no images; expected {CLASSIFICATION_LAYOUT}.")
    loose = [n for n in images if "/" not in n]
    if loose:
        raise UploadError(
            f"{root}{loose[0]} is not in a class folder; expected {CLASSIFICATION_LAYOUT}."
        )
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
    expected = f'{member} must be {{"classes": ["name", ...], "palette": [[r, g, b], ...]}}.'
    raw = _read(archive, member, MAX_CLASSES_BYTES)
    try:
        spec = json.loads(raw)  # UTF-8, -16 or -32, with or without a BOM
        names = spec["classes"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise UploadError(expected) from None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise UploadError(expected)
    if len(names) > IGNORE_INDEX:
        raise UploadError(f"{member} names {len(names)} classes; masks hold at most 255.")
    bad = next((n for n in names if not n.strip() or any(ord(c) < 32 for c in n)), None)
    if bad is not None or len(set(names)) != len(names):
        problem = "an empty name or a control character" if bad is not None else "a name twice"
        raise UploadError(f"{member} has {problem} in its classes.")
    palette = spec.get("palette")
    if palette is None:
        return list(names), None
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
    if len(keys) != len(palette):
        raise UploadError(f"{member}: the palette gives two classes one colour.")
    return list(names), keys


def inspect(archive: zipfile.ZipFile, task: str) -> Labelled:
    """List and pair the zip's examples for ``task`` without decoding them.

    Returns:
        A :class:`Labelled` without ``examples`` (see :func:`read`); ``classes`` is None for
        masks without a ``classes.json``.

    Raises:
        UploadError: No images, no masks, an image without its mask, two files of one name,
            an image outside a class folder, a malformed ``classes.json``, or more than
            :data:`MAX_EXAMPLES` examples.
    """
    everything = _files(archive)
    root = _root(everything, 1 if task == "classification" else 0)
    names = [n[len(root) :] for n in everything if n.startswith(root)]
    if any(n.startswith("val/") for n in names):  # a train/val layout: validate on val
        names, root = [n[4:] for n in names if n.startswith("val/")], f"{root}val/"
    classes: list[str] | None
    palette = None
    if task == "segmentation":
        items = _segmentation_items(names, root)
        listed = [f"{root}{CLASSES_FILE}"]
        if root.endswith("val/"):  # classes.json may sit beside train/ and val/
            listed.append(f"{root[:-4]}{CLASSES_FILE}")
        found = next((m for m in listed if m in everything), None)
        classes, palette = _classes_json(archive, found) if found else (None, None)
    else:
        classes, items = _classification_items(names, root)
    if len(items) > MAX_EXAMPLES:
        raise UploadError(
            f"The zip holds {len(items)} examples; the limit is {MAX_EXAMPLES} per upload."
        )
    rooted = [(root + image, root + t if isinstance(t, str) else t) for image, t in items]
    return Labelled(task, classes, rooted, palette)


def _read(archive: zipfile.ZipFile, member: str, limit: int | None = None) -> bytes:
    """``member``'s bytes, never inflating past its declared size (a member that lies about
    its size is cut there, as ``zipfile`` alone would not do before inflating a gigabyte).

    Raises:
        UploadError: Damaged, or declared larger than ``limit`` bytes.
    """
    info = archive.getinfo(member)
    if limit is not None and info.file_size > limit:
        raise UploadError(f"{member} is {info.file_size:,} bytes; the limit is {limit:,}.")
    try:
        with archive.open(info) as file:
            return file.read(info.file_size)
    except Exception:  # zipfile, zlib, an unsupported method (Deflate64): one line
        raise UploadError(
            f"{member} cannot be unpacked (a damaged zip, or a compression method other than "
            "Deflate); zip it again."
        ) from None


@dataclass(frozen=True)
class _Stored:
    """How a photo is stored: its size and EXIF orientation (1 = upright)."""

    size: tuple[int, int]
    orientation: int


def _image(archive: zipfile.ZipFile, member: str, budget: int) -> tuple[Image.Image, _Stored]:
    """The image ``member`` upright (see :func:`zoo.load_image`) and how it is stored; refused
    from its header when it is not one of :data:`PIL_FORMATS`, or larger than ``budget``
    pixels (what is left of :data:`MAX_MEGAPIXELS`) or zoo's size limits."""
    data = _read(archive, member)
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as header:  # the header only
            stored = _Stored(header.size, int(header.getexif().get(_ORIENTATION, 1) or 1))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UploadError(f"{member} is not an image: expected {SUPPORTED}.") from None
    width, height = stored.size
    if width * height > budget:
        raise UploadError(
            f"{member} takes the images past {MAX_MEGAPIXELS} megapixels in all (it is "
            f"{width}×{height}); the limit is {MAX_MEGAPIXELS} per upload. Downscale them or "
            "upload fewer."
        )
    named = io.BytesIO(data)
    named.name = member  # zoo's messages name the file by its base name
    try:
        return zoo.load_image(named), stored
    except zoo.InvalidImageError as exc:
        message, base = str(exc), posixpath.basename(member)
        for written in (base[:1].upper() + base[1:], base):  # zoo capitalises a sentence
            if message.startswith(written):
                message = member + message[len(written) :]
                break
        raise UploadError(message) from None


def _upright(mask: Image.Image, stored: _Stored) -> Image.Image:
    """The mask turned as its photo is shown (as ``python -m train.validate`` does): a mask
    with an EXIF orientation of its own follows it; one the size of the stored photo is
    turned by the photo's orientation; any other is taken as drawn upright."""
    if mask.getexif().get(_ORIENTATION, 1) not in (None, 1):
        return ImageOps.exif_transpose(mask)
    if stored.orientation in (None, 1) or mask.size != stored.size:
        return mask
    mask.getexif()[_ORIENTATION] = stored.orientation
    return ImageOps.exif_transpose(mask)


def _palette_indices(raw: Image.Image, palette: dict[int, int], member: str) -> np.ndarray:
    """``(H, W)`` class indices of an RGB mask, one lookup for all colours."""
    rgb = np.asarray(raw.convert("RGB"), dtype=np.uint32)
    keys = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    colours = np.array(sorted(palette), dtype=np.uint32)
    slots = np.minimum(np.searchsorted(colours, keys), len(colours) - 1)
    known = colours[slots] == keys
    if not known.all():
        colour = rgb[~known][0].tolist()
        raise UploadError(f"{member} has colour {colour}, which classes.json's palette lacks.")
    indices = np.array([palette[int(c)] for c in colours], dtype=np.uint8)
    return indices[slots]


def _mask(
    archive: zipfile.ZipFile,
    member: str,
    image: Example,
    stored: _Stored,
    classes: int,
    palette: dict[int, int] | None,
) -> np.ndarray:
    shown = image.image.size
    sizes = {shown, stored.size, shown[::-1]}  # a quarter turn of its own is allowed
    try:
        with Image.open(io.BytesIO(_read(archive, member)), formats=PIL_FORMATS) as opened:
            size = opened.size
            if size in sizes:  # checked before decoding
                opened.load()
                raw = _upright(opened.copy(), stored)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise UploadError(f"{member} is not a readable mask image.") from None
    if size not in sizes or raw.size != shown:
        size = raw.size if size in sizes else size
        raise UploadError(
            f"{member} is {size[0]}×{size[1]} but its image {image.name} is {shown[0]}×{shown[1]}."
        )
    if raw.mode in ("RGB", "RGBA") and palette is not None:
        return _palette_indices(raw, palette, member)
    if raw.mode not in ("1", "L", "P", "I") and not raw.mode.startswith("I;16"):
        raise UploadError(
            f"{member} is a {raw.mode} image; masks hold one class index per pixel (or RGB "
            "colours listed in classes.json's palette)."
        )
    values = np.asarray(raw).astype(np.int64)  # a 1-bit mask: black 0, white 1
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
        raise UploadError(NO_CLASS_NAMES)
    budget = MAX_MEGAPIXELS * 1_000_000
    examples = []
    for image_member, target in labelled.items:
        image, stored = _image(archive, image_member, budget)
        budget -= image.width * image.height
        example = Example(image_member, image, target if isinstance(target, int) else 0)
        if isinstance(target, str):
            example.target = _mask(archive, target, example, stored, len(names), labelled.palette)
        examples.append(example)
    labelled.classes, labelled.examples = list(names), examples
    return labelled


def summary_of(labelled: Labelled) -> dict[str, Any]:
    """The upload in plain JSON: task, examples, classes."""
    return {"task": labelled.task, "examples": len(labelled.items), "classes": labelled.classes}
