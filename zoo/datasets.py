"""The data sets the zoo's weights refer to: class names, colour palette, terms of use.

A pretrained tag names its data set in its metadata record (:class:`zoo.meta.ZooMeta`); this
module is where each data set's labels, palette and terms are written down once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

RGB = tuple[int, int, int]
Palette = tuple[RGB, ...]


def voc_palette(num_classes: int = 256) -> Palette:
    """The PASCAL VOC colour map (bit-interleaved), which also serves any number of classes.

    Class 0 is black, 1 dark red, 2 dark green, ...; colours never repeat below 256 classes.
    """
    palette = []
    for index in range(num_classes):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append((r, g, b))
    return tuple(palette)


@dataclass(frozen=True)
class DatasetInfo:
    """One data set's classes and terms.

    Attributes:
        name: Short id used in metadata records (``"voc"``, ``"cityscapes"``).
        title: Human-readable name.
        labels: Class names, one per class index.
        palette: RGB colours (0–255), one per class.
        terms: The data set's licence or terms of use, as its authors state them.
        url: Where the data set is published.
    """

    name: str
    title: str
    labels: tuple[str, ...]
    palette: Palette
    terms: str
    url: str


VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip

CITYSCAPES_PALETTE: Palette = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)  # fmt: skip

DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo(
            name="voc",
            title="PASCAL VOC 2012",
            labels=VOC_CLASSES,
            palette=voc_palette(len(VOC_CLASSES)),
            terms="Images: Flickr terms of use; annotations: PASCAL VOC challenge terms.",
            url="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
        ),
        DatasetInfo(
            name="coco_voc",
            title="COCO train2017, the 20 PASCAL VOC categories",
            labels=VOC_CLASSES,
            palette=voc_palette(len(VOC_CLASSES)),
            terms="COCO annotations: CC BY 4.0; images: Flickr terms of use.",
            url="https://cocodataset.org/",
        ),
        DatasetInfo(
            name="cityscapes",
            title="Cityscapes",
            labels=CITYSCAPES_CLASSES,
            palette=CITYSCAPES_PALETTE,
            terms="Cityscapes licence: non-commercial research and teaching only.",
            url="https://www.cityscapes-dataset.com/license/",
        ),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    """The labels, palette and terms of a data set the zoo's weights refer to.

    Args:
        name: One of ``zoo.datasets.DATASETS`` (``"voc"``, ``"coco_voc"``, ``"cityscapes"``).

    Raises:
        ConfigError: Unknown data set name (the message lists the known ones).
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"Unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}."
        ) from None
