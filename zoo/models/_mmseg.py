"""mmsegmentation's published checkpoints for the zoo's architectures (weights: Apache-2.0).

Each entry is the longest training schedule of one architecture on one data set in
mmsegmentation v1.2.2's metafiles; :func:`mmseg_cfgs` turns an architecture's entries into its
pretrained tags (``{architecture}.mmseg_{dataset}_{crop}``) with the data set's labels, palette
and terms, the published mIoU (single-scale, and multi-scale + flip), the test-time resize of
the config's test pipeline and the source file (its sha256 prefix is in its name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..meta import TestResize, ZooCfg
from ._seg import dataset_fields, seg_cfg

BASE_URL = "https://download.openmmlab.com/mmsegmentation/v0.5/"
ORIGIN = "https://github.com/open-mmlab/mmsegmentation"


@dataclass(frozen=True)
class MMSegCheckpoint:
    """One published mmsegmentation checkpoint.

    Attributes:
        config: The mmsegmentation 1.x config name (``configs/<family>/<config>.py``).
        folder: ``<family>/<0.x config name>``, the folder of the file under :data:`BASE_URL`.
        stamp: The file name's ``<date>_<time>-<sha256 prefix>`` suffix.
        miou: Published single-scale validation mIoU (%).
        miou_ms_flip: Published multi-scale + flip validation mIoU (%).
    """

    config: str
    folder: str
    stamp: str
    miou: float
    miou_ms_flip: float

    @property
    def url(self) -> str:
        old_name = self.folder.split("/")[1]
        return f"{BASE_URL}{self.folder}/{old_name}_{self.stamp}.pth"

    @property
    def schedule(self) -> str:
        """Training iterations, as the config name says (``"80k"``)."""
        return next(p for p in re.split(r"[-_]", self.config) if re.fullmatch(r"\d+k", p))


@dataclass(frozen=True)
class EvalSetting:
    """How mmsegmentation trains and evaluates on one data set."""

    tag: str
    crop: tuple[int, int]  # (height, width) of the training crop
    test_resize: TestResize
    split: str


EVAL_SETTINGS = {
    # Cityscapes frames are 2048×1024: keep-ratio to (2048, 1024) is the whole image as it is.
    # mmsegmentation resizes with cv2's bilinear, which does not antialias.
    "voc12aug": EvalSetting(
        "voc12aug_512",
        (512, 512),
        TestResize("keep_ratio", (2048, 512), antialias=False),
        "VOC 2012 val",
    ),
    "cityscapes": EvalSetting(
        "cityscapes_512x1024",
        (512, 1024),
        TestResize("keep_ratio", (2048, 1024), antialias=False),
        "Cityscapes val",
    ),
    "ade20k": EvalSetting(
        "ade20k_512",
        (512, 512),
        TestResize("keep_ratio", (2048, 512), antialias=False),
        "ADE20K val",
    ),
}

CHECKPOINTS: dict[tuple[str, str], MMSegCheckpoint] = {
    ("pspnet_resnet50c", "voc12aug"): MMSegCheckpoint(
        "pspnet_r50-d8_4xb4-40k_voc12aug-512x512",
        "pspnet/pspnet_r50-d8_512x512_40k_voc12aug",
        "20200613_161222-ae9c1b8c",
        77.29,
        78.48,
    ),
    ("pspnet_resnet50c", "cityscapes"): MMSegCheckpoint(
        "pspnet_r50-d8_4xb2-80k_cityscapes-512x1024",
        "pspnet/pspnet_r50-d8_512x1024_80k_cityscapes",
        "20200606_112131-2376f12b",
        78.55,
        79.79,
    ),
    ("pspnet_resnet50c", "ade20k"): MMSegCheckpoint(
        "pspnet_r50-d8_4xb4-160k_ade20k-512x512",
        "pspnet/pspnet_r50-d8_512x512_160k_ade20k",
        "20200615_184358-1890b0bd",
        42.48,
        43.44,
    ),
    ("deeplabv3_resnet50c", "voc12aug"): MMSegCheckpoint(
        "deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512",
        "deeplabv3/deeplabv3_r50-d8_512x512_40k_voc12aug",
        "20200613_161546-2ae96e7e",
        77.68,
        78.78,
    ),
    ("deeplabv3_resnet50c", "cityscapes"): MMSegCheckpoint(
        "deeplabv3_r50-d8_4xb2-80k_cityscapes-512x1024",
        "deeplabv3/deeplabv3_r50-d8_512x1024_80k_cityscapes",
        "20200606_113404-b92cfdd4",
        79.32,
        80.57,
    ),
    ("deeplabv3_resnet50c", "ade20k"): MMSegCheckpoint(
        "deeplabv3_r50-d8_4xb4-160k_ade20k-512x512",
        "deeplabv3/deeplabv3_r50-d8_512x512_160k_ade20k",
        "20200615_123227-5d0ee427",
        42.66,
        44.09,
    ),
    ("deeplabv3plus_resnet50c", "voc12aug"): MMSegCheckpoint(
        "deeplabv3plus_r50-d8_4xb4-40k_voc12aug-512x512",
        "deeplabv3plus/deeplabv3plus_r50-d8_512x512_40k_voc12aug",
        "20200613_161759-e1b43aa9",
        76.81,
        77.57,
    ),
    ("deeplabv3plus_resnet50c", "cityscapes"): MMSegCheckpoint(
        "deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024",
        "deeplabv3plus/deeplabv3plus_r50-d8_512x1024_80k_cityscapes",
        "20200606_114049-f9fb496d",
        80.09,
        81.13,
    ),
    ("deeplabv3plus_resnet50c", "ade20k"): MMSegCheckpoint(
        "deeplabv3plus_r50-d8_4xb4-160k_ade20k-512x512",
        "deeplabv3plus/deeplabv3plus_r50-d8_512x512_160k_ade20k",
        "20200615_124504-6135c7e0",
        43.95,
        44.93,
    ),
    ("hrnetv2_w18", "voc12aug"): MMSegCheckpoint(
        "fcn_hr18_4xb4-40k_voc12aug-512x512",
        "hrnet/fcn_hr18_512x512_40k_voc12aug",
        "20200613_224401-1b4b76cd",
        72.9,
        75.59,
    ),
    ("hrnetv2_w18", "cityscapes"): MMSegCheckpoint(
        "fcn_hr18_4xb2-160k_cityscapes-512x1024",
        "hrnet/fcn_hr18_512x1024_160k_cityscapes",
        "20200602_190822-221e4a4f",
        78.8,
        80.74,
    ),
    ("hrnetv2_w18", "ade20k"): MMSegCheckpoint(
        "fcn_hr18_4xb4-160k_ade20k-512x512",
        "hrnet/fcn_hr18_512x512_160k_ade20k",
        "20200614_214426-ca961836",
        36.79,
        38.58,
    ),
    ("hrnetv2_w48", "voc12aug"): MMSegCheckpoint(
        "fcn_hr48_4xb4-40k_voc12aug-512x512",
        "hrnet/fcn_hr48_512x512_40k_voc12aug",
        "20200613_222111-1b0f18bc",
        76.24,
        78.49,
    ),
    ("hrnetv2_w48", "cityscapes"): MMSegCheckpoint(
        "fcn_hr48_4xb2-160k_cityscapes-512x1024",
        "hrnet/fcn_hr48_512x1024_160k_cityscapes",
        "20200602_190946-59b7973e",
        80.65,
        81.92,
    ),
    ("hrnetv2_w48", "ade20k"): MMSegCheckpoint(
        "fcn_hr48_4xb4-160k_ade20k-512x512",
        "hrnet/fcn_hr48_512x512_160k_ade20k",
        "20200614_214407-a52fc02c",
        42.02,
        43.86,
    ),
}


def mmseg_cfgs(architecture: str, backbone: str, paper_ids: str) -> dict[str, ZooCfg]:
    """The pretrained tags of ``architecture`` for every data set it has a checkpoint on
    (Pascal VOC first: the default tag keeps the 21 VOC classes of the untagged models).

    Args:
        architecture: A registered architecture, e.g. ``"pspnet_resnet50c"``.
        backbone: Its timm backbone (for the record's normalisation: ImageNet mean/std,
            as mmsegmentation's ``data_preprocessor``).
        paper_ids: The architecture's paper.
    """
    cfgs = {}
    for (name, dataset), ckpt in CHECKPOINTS.items():
        if name != architecture:
            continue
        setting = EVAL_SETTINGS[dataset]
        metrics: dict[str, float | str] = {
            "mIoU": ckpt.miou,
            "mIoU_ms_flip": ckpt.miou_ms_flip,
            "eval": f"{setting.split}, single scale; mIoU_ms_flip: multi-scale + flip",
            "schedule": f"{ckpt.schedule} iterations",
        }
        source = {
            "url": ckpt.url,
            "config": ckpt.config,
            "config_0x": ckpt.folder.split("/")[1],
            "framework": "mmsegmentation 0.x (listed in the 1.2.2 model zoo)",
        }
        cfgs[f"{architecture}.mmseg_{setting.tag}"] = seg_cfg(
            backbone,
            url=ckpt.url,
            input_size=(3, *setting.crop),
            license="apache-2.0",
            origin_url=ORIGIN,
            description=f"mmsegmentation's {ckpt.config} weights (converted on load).",
            paper_ids=paper_ids,
            **dataset_fields(
                dataset, metrics=metrics, test_resize=setting.test_resize, source=source
            ),
        )
    return cfgs
