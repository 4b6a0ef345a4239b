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
        layout: The ``python -m train.validate --data LAYOUT:PATH`` layout that reads the
            split the weights' published metrics were measured on (``"voc"`` for VOC12aug
            weights: they are evaluated on VOC 2012 val); None when none does (torchvision's
            COCO-trained weights were evaluated on a COCO val subset).
    """

    name: str
    title: str
    labels: tuple[str, ...]
    palette: Palette
    terms: str
    url: str
    layout: str | None = None


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

#: ADE20K's 150 SceneParsing classes and colours, in the order of the benchmark's label ids
#: 1–150 (class index = label id − 1; label 0, "other", is ignored in evaluation).
ADE20K_CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing",
    "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
    "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister",
    "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
)  # fmt: skip

ADE20K_PALETTE: Palette = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80),
    (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7),
    (150, 5, 61), (120, 120, 70), (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4),
    (255, 51, 7), (204, 70, 3), (0, 102, 200), (61, 230, 250), (255, 6, 51), (11, 102, 255),
    (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92), (112, 9, 255),
    (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10), (7, 255, 255),
    (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255),
    (140, 140, 140), (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0),
    (153, 255, 0), (0, 0, 255), (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255),
    (11, 200, 200), (255, 82, 0), (0, 255, 245), (0, 61, 255), (0, 255, 112), (0, 255, 133),
    (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0), (0, 143, 255), (51, 255, 0),
    (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0), (0, 255, 153),
    (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194),
    (0, 255, 82), (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255),
    (0, 255, 163), (255, 153, 0), (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255),
    (163, 255, 0), (255, 235, 0), (8, 184, 170), (133, 0, 255), (0, 255, 92), (184, 0, 255),
    (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112), (92, 255, 0), (0, 224, 255),
    (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0), (255, 0, 163),
    (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255),
    (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255),
    (255, 255, 0), (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0),
    (173, 0, 255), (0, 245, 255), (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255),
    (184, 255, 0), (0, 133, 255), (255, 214, 0), (25, 194, 194), (102, 255, 0), (92, 0, 255),
)  # fmt: skip


def _digits_datasets() -> tuple[DatasetInfo, ...]:
    """The data sets ``python -m train`` builds from scikit-learn's digits (offline): the
    8×8 digits (classification) and digits drawn on canvases (segmentation)."""
    terms = "UCI Optical Recognition of Handwritten Digits, as scikit-learn ships it: CC BY 4.0."
    url = "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"
    digits = tuple(str(d) for d in range(10))
    canvas = ("background", *digits)
    return (
        DatasetInfo("digits", "scikit-learn digits", digits, voc_palette(10), terms, url,
                    "digits"),
        DatasetInfo("digits-canvas", "scikit-learn digits drawn on canvases", canvas,
                    voc_palette(11), terms, url, "digits"),
        DatasetInfo("digits-hard", "scikit-learn digits on cluttered canvases", canvas,
                    voc_palette(11), terms, url, "digits-hard"),
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
            layout="voc",
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
            name="voc12aug",
            title="PASCAL VOC 2012 with the SBD augmented training set (10,582 images)",
            labels=VOC_CLASSES,
            palette=voc_palette(len(VOC_CLASSES)),
            terms="Images: Flickr terms of use; annotations: PASCAL VOC challenge terms and the "
            "Semantic Boundaries Dataset (Hariharan et al. 2011), for research use.",
            url="http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
            layout="voc",
        ),
        DatasetInfo(
            name="ade20k",
            title="ADE20K (MIT SceneParsing benchmark, 150 classes)",
            labels=ADE20K_CLASSES,
            palette=ADE20K_PALETTE,
            terms="ADE20K terms of use: non-commercial research and educational purposes only; "
            "images come from the SUN and Places databases and keep their owners' copyright.",
            url="https://groups.csail.mit.edu/vision/datasets/ADE20K/",
            layout="ade20k",
        ),
        DatasetInfo(
            name="cityscapes",
            title="Cityscapes",
            labels=CITYSCAPES_CLASSES,
            palette=CITYSCAPES_PALETTE,
            terms="Cityscapes licence: non-commercial research and teaching only.",
            url="https://www.cityscapes-dataset.com/license/",
            layout="cityscapes",
        ),
        *_digits_datasets(),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    """The labels, palette and terms of a data set the zoo's weights refer to.

    Args:
        name: One of ``zoo.datasets.DATASETS``: ``"voc"``, ``"voc12aug"``, ``"coco_voc"``,
            ``"cityscapes"``, ``"ade20k"``, ``"digits"``, ``"digits-canvas"``,
            ``"digits-hard"``.

    Raises:
        ConfigError: Unknown data set name (the message lists the known ones).
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"Unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}."
        ) from None
