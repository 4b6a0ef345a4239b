"""MediaPipe Selfie Segmentation: Google's person/background model, ported from its TFLite graphs.

The two graphs that ship in ``mediapipe==0.10.21`` (``modules/selfie_segmentation/
selfie_segmentation.tflite``, input 256×256, and ``selfie_segmentation_landscape.tflite``,
input 144×256) have the same layers and weight shapes; only their input size and the way the
squeeze-excitation pools are written differ (``AVERAGE_POOL_2D`` over the whole map vs.
``MEAN``, both a global average). So they are one architecture, ``mediapipe_selfie``, with one
tag per weight set. The network (MediaPipe's model card: "MobileNetV3-like with custom decoder
blocks"; 106,401 parameters, 55 convolutions):

- ``stem``: 3×3 conv, stride 2, hard-swish (1/2 resolution, 16 channels);
- ``blocks``: 8 MobileNetV3 inverted residuals (1×1 expand, k×k depthwise, optional
  squeeze-excitation, 1×1 linear projection; a residual where shapes allow) down to 1/16;
- ``head``: LR-ASPP (Howard et al. 2019, arXiv:1905.02244): a 1×1 conv-ReLU branch gated by a
  sigmoid of a 1×1 conv of the globally pooled features;
- ``decoder``: three stages that upsample ×2 (bilinear, half-pixel centres), project with a
  1×1 conv, fuse with the encoder's skip at 1/8, 1/4, 1/2 through a squeeze-excitation gate,
  and refine with a 1×1 conv and a residual 3×3 depthwise conv;
- ``classifier``: a 2×2 transposed conv, stride 2, back to full resolution (the graph's
  custom ``Convolution2DTransposeBias`` op) giving the person logit.

TFLite's "SAME" padding (asymmetric for stride 2) comes from timm's ``Conv2dSame``.

Input and output follow the zoo's segmentation contract: ``(B, 3, H, W)`` RGB in [0, 1]
(MediaPipe feeds RGB scaled to [0, 1]: mean 0, std 1) → ``(B, 2, H, W)`` logits for
``("background", "person")``. The network always runs at the tag's native size: any other input
is first resized to it the way MediaPipe's ``ImageToTensorCalculator`` does (bilinear sampling at
``dst · in/out``, zeros outside the image, no aspect-ratio padding), and the logits are resized
bilinearly back to ``H × W``. Channel 0 is all zeros and channel 1 is the person logit z, so the
softmax's person probability is sigmoid(z), MediaPipe's mask (``mask > 0.5`` ⇔ argmax = person).
With another ``num_classes`` the transposed conv emits K logits directly (for fine-tuning).

Weights: converted from the ``.tflite`` files by ``scripts/convert_mediapipe_selfie.py`` and
shipped inside this package as fp16 safetensors (Apache-2.0, © Google LLC), so
``zoo.create_model("mediapipe_selfie", pretrained=True)`` needs no network.
"""

# No ``from __future__ import annotations``: torch.fx copies the root forward's annotations
# into the code TorchScript compiles, and TorchScript reads class-level ones (timm contract).
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from timm.layers import create_conv2d, register_notrace_function
from timm.models import (
    build_model_with_cfg,
    generate_default_cfgs,
    register_model,
    resolve_pretrained_cfg,
)
from torch import Tensor, nn

from ..errors import ConfigError
from ..meta import InstalledWeights, TestResize, ZooCfg, ZooMeta
from ._seg import resize, tracing

#: ``(in, expanded, out, kernel, stride, activation, squeeze-excitation channels or 0)`` of the
#: encoder's inverted residuals, in graph order (``conv2d_1`` … ``conv2d_28``).
BLOCKS: tuple[tuple[int, int, int, int, int, type[nn.Module], int], ...] = (
    (16, 16, 16, 3, 2, nn.ReLU, 8),  # → 1/4, skip of the last decoder stage but one
    (16, 72, 24, 3, 2, nn.ReLU, 0),
    (24, 88, 24, 3, 1, nn.ReLU, 0),  # → 1/8, skip of the first decoder stage
    (24, 96, 32, 5, 2, nn.Hardswish, 24),
    (32, 128, 32, 5, 1, nn.Hardswish, 32),
    (32, 128, 32, 5, 1, nn.Hardswish, 32),
    (32, 96, 32, 5, 1, nn.Hardswish, 24),
    (32, 96, 32, 5, 1, nn.Hardswish, 24),  # → 1/16, into the head
)
STEM_CHANNELS = 16
#: Indices of the blocks whose outputs are decoder skips (with the stem's output at 1/2).
SKIP_BLOCKS = (0, 2)
HEAD_CHANNELS = 128
#: ``(input, skip)`` channels of the decoder stages, at 1/8, 1/4 and 1/2 of the input.
DECODER = ((HEAD_CHANNELS, 24), (24, 16), (16, STEM_CHANNELS))
LABELS = ("background", "person")


def mediapipe_resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize like MediaPipe's ``ImageToTensorCalculator`` (OpenCV ``warpPerspective``).

    Output pixel ``(i, j)`` samples the input bilinearly at ``(i · H / h, j · W / w)`` (no
    half-pixel shift, unlike ``F.interpolate``), with zeros outside the image, and the whole
    image maps onto the whole output (the aspect ratio is not kept).

    Args:
        x: ``(B, C, H, W)`` images.
        size: Output ``(h, w)``.

    Returns:
        ``(B, C, h, w)``.
    """
    h, w = size[0], size[1]
    in_h, in_w = x.shape[-2], x.shape[-1]
    # grid_sample (align_corners=False) reads pixel p at normalised g = (2p + 1) / W - 1.
    ys = torch.arange(h, device=x.device, dtype=x.dtype) * (2.0 / h) + (1.0 / in_h - 1.0)
    xs = torch.arange(w, device=x.device, dtype=x.dtype) * (2.0 / w) + (1.0 / in_w - 1.0)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # (h, w, 2) as (x, y)
    grid = grid.unsqueeze(0).expand(x.shape[0], h, w, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@register_notrace_function  # torch.fx: one call, its size check runs when the graph runs
def to_native(x: Tensor, size: tuple[int, int]) -> Tensor:
    """:func:`mediapipe_resize` to ``size`` unless ``x`` already has it (while :func:`tracing`,
    always: the recorded graph resizes whatever size it is given)."""
    if not tracing() and x.shape[-2] == size[0] and x.shape[-1] == size[1]:
        return x
    return mediapipe_resize(x, size)


class SqueezeExcite(nn.Module):
    """Global average pool → 1×1 conv → ReLU → 1×1 conv → sigmoid, scaling channels.

    The graph's ``AVERAGE_POOL_2D`` (or ``MEAN``) + ``CONV_2D`` + ``RELU`` + ``CONV_2D`` +
    ``LOGISTIC`` + ``MUL`` (plain sigmoid, not MobileNetV3's hard sigmoid).
    """

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.expand = nn.Conv2d(reduced, channels, 1)

    def gate(self, x: Tensor) -> Tensor:
        """Per-channel weights ``(B, C, 1, 1)`` in (0, 1) from ``x`` ``(B, C, H, W)``."""
        pooled = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        return torch.sigmoid(self.expand(F.relu(self.reduce(pooled))))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(x)


class InvertedResidual(nn.Module):
    """MobileNetV3 block: 1×1 expand + act, k×k depthwise (TF "SAME" padding) + act,
    optional squeeze-excitation, 1×1 linear projection, residual when stride 1 and in = out."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        act: type[nn.Module],
        se_channels: int = 0,
    ) -> None:
        super().__init__()
        self.expand = nn.Conv2d(in_channels, mid_channels, 1)
        self.act1 = act()
        self.dw = create_conv2d(
            mid_channels,
            mid_channels,
            kernel_size,
            stride=stride,
            padding="same",
            depthwise=True,
            bias=True,
        )
        self.act2 = act()
        self.se = SqueezeExcite(mid_channels, se_channels) if se_channels else nn.Identity()
        self.project = nn.Conv2d(mid_channels, out_channels, 1)
        self.has_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.project(self.se(self.act2(self.dw(self.act1(self.expand(x))))))
        return out + x if self.has_residual else out


class LRASPPHead(nn.Module):
    """LR-ASPP (arXiv:1905.02244 §6.3): ``relu(conv(x)) · sigmoid(gate(mean(x)))``."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 1)
        self.gate = nn.Conv2d(in_channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        weights = torch.sigmoid(self.gate(x.mean((2, 3), keepdim=True)))  # (B, C, 1, 1)
        return F.relu(self.conv(x)) * weights


class DecoderStage(nn.Module):
    """Upsample ×2, fuse with an encoder skip, refine.

    ``up = proj(upsample(x))``; ``y = skip · se_gate(skip + up) + up``;
    ``y = relu(conv(y))``; ``out = y + relu(dw(y))``.
    """

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, channels, 1)
        self.attention = SqueezeExcite(channels, channels)
        self.conv = nn.Conv2d(channels, channels, 1)
        self.dw = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        up = self.proj(x)  # (B, C, h, w), C = the skip's channels
        fused = skip * self.attention.gate(skip + up) + up
        fused = F.relu(self.conv(fused))
        return fused + F.relu(self.dw(fused))


class MediaPipeSelfie(nn.Module):
    """MediaPipe Selfie Segmentation: ``(B, 3, H, W)`` RGB in [0, 1] → ``(B, K, H, W)`` logits.

    Args:
        num_classes: 2 (default): the weights' one person logit z returned as ``[0, z]``
            (background, person), so softmax gives MediaPipe's sigmoid(z). Any other K: the
            transposed conv emits K logits (a fresh head for fine-tuning).
        native_size: ``(height, width)`` the network runs at; other inputs are resized to it
            (see :func:`mediapipe_resize`) and the logits back. 256×256 (general) or 144×256
            (landscape), set from the tag's ``input_size``.
        in_chans: Input channels.

    Raises:
        ConfigError: ``num_classes`` < 1 or a ``native_size`` that is not a multiple of 16.
    """

    def __init__(
        self, num_classes: int = 2, native_size: tuple[int, int] = (256, 256), in_chans: int = 3
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}.")
        height, width = (int(v) for v in native_size)
        if height < 16 or width < 16 or height % 16 or width % 16:
            raise ConfigError(
                f"native_size must be (height, width) in multiples of 16, got {native_size!r}."
            )
        self.num_classes = num_classes
        self.native_size = (height, width)
        self.stem = nn.Sequential()
        self.stem.add_module(
            "conv", create_conv2d(in_chans, STEM_CHANNELS, 3, stride=2, padding="same", bias=True)
        )
        self.stem.add_module("act", nn.Hardswish())
        self.blocks = nn.Sequential(*(InvertedResidual(*spec) for spec in BLOCKS))
        self.skip_blocks = list(SKIP_BLOCKS)
        self.head = LRASPPHead(BLOCKS[-1][2], HEAD_CHANNELS)
        self.decoder = nn.ModuleList(DecoderStage(i, c) for i, c in DECODER)
        self.num_features = DECODER[-1][1]
        self.classifier = self._classifier(num_classes)

    def _classifier(self, num_classes: int) -> nn.ConvTranspose2d:
        out = 1 if num_classes == 2 else num_classes  # binary: one logit, as MediaPipe's
        return nn.ConvTranspose2d(self.num_features, out, 2, stride=2)

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Encoder maps at the native size: ``[(B, 16, h/2, w/2), (B, 16, h/4, w/4),
        (B, 24, h/8, w/8), (B, 32, h/16, w/16)]``."""
        x = self.stem(x)
        features = [x]
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.skip_blocks:
                features.append(x)
        features.append(x)
        return features

    def forward_head(self, features: list[Tensor]) -> Tensor:
        """Logits ``(B, K, h, w)`` at twice the resolution of the first feature map."""
        x = self.head(features[-1])
        for index, stage in enumerate(self.decoder):  # skips from deep to shallow
            x = stage(x, features[len(features) - 2 - index])
        logits = self.classifier(x)
        if self.num_classes == 2:  # [background 0, person z]: softmax = (1 - σ(z), σ(z))
            logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
        return logits

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, K, H, W)`` at the input size, for any H, W."""
        height, width = x.shape[-2], x.shape[-1]
        x = to_native(x, self.native_size)
        logits = self.forward_head(self.forward_features(x))  # (B, K, *native_size)
        return resize(logits, height, width)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh transposed-conv head for ``num_classes`` (2: MediaPipe's one-logit form)."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}.")
        self.num_classes = num_classes
        self.classifier = self._classifier(num_classes)


SOURCE = (
    "https://github.com/google-ai-edge/mediapipe/tree/v0.10.21/mediapipe/modules/"
    "selfie_segmentation"
)
MODEL_CARD = "https://mediapipe.page.link/selfiesegmentation-mc"
PALETTE = ((0, 0, 0), (255, 0, 128))
#: The package's folder of shipped weights (``zoo/bundled``).
BUNDLED = Path(__file__).resolve().parents[1] / "bundled"
#: What scripts/convert_mediapipe_selfie.py measured against the official runtime.
PARITY_EVAL = (
    "agreement with the official MediaPipe 0.10.21 runtime on 6 package photos (skimage "
    "astronaut, camera, coffee, chelsea, rocket; matplotlib's Grace Hopper): largest |Δ| of "
    "the person probability at the native size, smallest IoU of mask > 0.5 on the full photos"
)


def _cfg(
    tag: str, size: tuple[int, int], tflite: str, sha256: str, parity: tuple[float, float], cat: str
) -> ZooCfg:
    height, width = size
    kind = "general" if height == width else "landscape"
    fields: dict[str, Any] = dict(  # a dict: timm types label_names as a 1-tuple
        url="",
        file=str(BUNDLED / f"mediapipe_selfie_{tag}.safetensors"),  # timm sees weights too
        num_classes=len(LABELS),
        label_names=LABELS,
        input_size=(3, height, width),
        fixed_input_size=False,
        interpolation="bilinear",
        crop_pct=1.0,
        crop_mode="center",
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        first_conv="stem.conv",
        classifier="classifier",
        license="apache-2.0",
        origin_url=SOURCE,
        paper_ids=(MODEL_CARD, "arXiv:1905.02244"),
        description=(
            f"Google's MediaPipe Selfie Segmentation, {kind} model ({height}×{width} input): a "
            "person/background mask for selfie effects and video calls, where people are "
            "close (< 2 m) to the camera. It finds people well but does not reject close-up "
            f"non-person subjects (the official runtime marks {cat} of skimage's cat photo as "
            "person, none of its rocket scene): use it on scenes with people, not as a person "
            "detector. Converted from mediapipe 0.10.21's TFLite graph (Apache-2.0, Google "
            "LLC); the fp16 weights ship inside this package."
        ),
        zoo=ZooMeta(
            task="segmentation",
            palette=PALETTE,
            metrics={
                "parity_max_abs_diff": parity[0],
                "parity_min_iou": parity[1],
                "eval": PARITY_EVAL,
            },
            dataset="MediaPipe selfie training data (Google, unpublished)",
            data_license="Not published; see Google's model card for how it was collected.",
            test_resize=TestResize("none", (width, height)),  # resized inside, as MediaPipe
            installed=InstalledWeights(
                package="vision-zoo",
                module="zoo",
                filename=f"bundled/mediapipe_selfie_{tag}.safetensors",
                origin=f"MediaPipe Selfie Segmentation ({tflite} in mediapipe 0.10.21; "
                "Apache-2.0, Google LLC), converted to fp16 safetensors",
            ),
            source={
                "url": f"{SOURCE}/{tflite}",
                "sha256": sha256,
                "package": "mediapipe==0.10.21",
                "converter": "scripts/convert_mediapipe_selfie.py",
                "model_card": MODEL_CARD,
            },
        ),
    )
    return ZooCfg(**fields)


default_cfgs = generate_default_cfgs(
    {
        "mediapipe_selfie.general_256": _cfg(
            "general_256",
            (256, 256),
            "selfie_segmentation.tflite",
            sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
            parity=(5.2e-05, 0.9955),
            cat="91 %",
        ),
        "mediapipe_selfie.landscape_144x256": _cfg(
            "landscape_144x256",
            (144, 256),
            "selfie_segmentation_landscape.tflite",
            sha256="a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
            parity=(8.9e-05, 0.9943),
            cat="65 %",
        ),
    }
)


@register_model
def mediapipe_selfie(pretrained: bool = False, **kwargs: Any) -> MediaPipeSelfie:
    """MediaPipe Selfie Segmentation (person/background; tags ``general_256``,
    ``landscape_144x256``); the tag's input size sets the native size."""
    cfg = resolve_pretrained_cfg(
        "mediapipe_selfie",
        pretrained_cfg=kwargs.get("pretrained_cfg"),
        pretrained_cfg_overlay=kwargs.get("pretrained_cfg_overlay"),
    )
    kwargs.setdefault("native_size", tuple(cfg.input_size[1:]))
    return build_model_with_cfg(
        MediaPipeSelfie, "mediapipe_selfie", pretrained, pretrained_strict=True, **kwargs
    )
