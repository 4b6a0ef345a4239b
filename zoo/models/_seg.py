"""The segmentation family's shared pieces: a timm ``features_only`` backbone, a decode head and
a 1×1 classifier, with logits resized to the input (the wiring is separate from the decoders,
as in segmentation_models_pytorch; each decoder lives in its architecture's file)."""

# No ``from __future__ import annotations``: torch.fx copies the root forward's annotations
# into the code TorchScript compiles, and TorchScript reads class-level ones (timm contract).
import dataclasses
from typing import Any, ClassVar

import timm
import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import register_notrace_function
from timm.models import build_model_with_cfg, get_pretrained_cfg
from torch import Tensor, nn

from ..convert import segmentation_checkpoint_filter
from ..datasets import VOC_CLASSES, dataset_info, voc_palette
from ..errors import CheckpointError, ConfigError
from ..meta import TestResize, ZooCfg, ZooMeta  # noqa: F401  (TestResize: for model files)
from ..registry import resolve_name, unknown_model
from ..weights import backbone_state_dict


def conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1
) -> nn.Sequential:
    """Conv (no bias) → BatchNorm → ReLU, padded to keep the spatial size."""
    padding = dilation * (kernel_size - 1) // 2
    return nn.Sequential(
        nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def separable_conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1
) -> nn.Sequential:
    """Depthwise conv-BN-ReLU, then pointwise (1×1) conv-BN-ReLU (DeepLabV3+'s atrous separable
    convolution, arXiv:1802.02611 §3.2; mmcv's ``DepthwiseSeparableConvModule``).

    Children 0/1 are the depthwise conv and its BN, 3/4 the pointwise conv and its BN.
    """
    padding = dilation * (kernel_size - 1) // 2
    depthwise = nn.Conv2d(
        in_channels,
        in_channels,
        kernel_size,
        padding=padding,
        dilation=dilation,
        groups=in_channels,
        bias=False,
    )
    return nn.Sequential(
        depthwise,
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        *conv_bn_relu(in_channels, out_channels, 1),
    )


class FCNHead(nn.Sequential):
    """3×3 conv-BN-ReLU (to ``in_channels // 4``), dropout, 1×1 classifier.

    The FCN decoder of torchvision's ``fcn_resnet50`` and the auxiliary head of PSPNet and
    DeepLabV3 (Long et al. 2015, arXiv:1411.4038; Zhao et al. 2017, arXiv:1612.01105).
    """

    def __init__(
        self, in_channels: int, num_classes: int, dropout: float = 0.1, channels: int | None = None
    ) -> None:
        channels = channels or in_channels // 4
        super().__init__()
        self.conv = conv_bn_relu(in_channels, channels, 3)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Conv2d(channels, num_classes, 1)


class SegmentationModel(nn.Module):
    """A timm backbone + a decode head + a classifier: ``(B, 3, H, W) → (B, K, H, W)`` logits.

    Subclasses implement :meth:`build_decoder` (a module over the list of backbone feature
    maps that returns ``(B, C, h, w)`` features) and may set :attr:`feature_kwargs` (extra
    ``features_only`` arguments, e.g. HRNet's ``feature_location``).

    Args:
        backbone: Any timm model name that supports ``features_only``.
        num_classes: Output classes K.
        output_stride: Backbone output stride 8, 16 or 32 (8/16 dilate the last stages, where
            the backbone supports it).
        in_chans: Input channels.
        pretrained_backbone: Load the backbone's ImageNet weights (installed or Hub, as
            :func:`zoo.create_model` does).
        aux_head: Add an auxiliary FCN head on the second-to-last backbone stage, used only
            by :meth:`forward_with_aux` (training).
        aux_weight: Loss weight of the auxiliary head (kept for trainers).
        drop_rate: Dropout before the classifier.
        backbone_kwargs: More arguments for the backbone (e.g. ``drop_path_rate``).

    Raises:
        ConfigError: ``num_classes`` < 1, or the backbone cannot produce the requested
            ``output_stride``.
        UnknownModelError: Unknown backbone name.
    """

    feature_kwargs: ClassVar[dict[str, Any]] = {}
    default_output_stride = 8

    def __init__(
        self,
        backbone: str = "resnet50",
        num_classes: int = 21,
        output_stride: int | None = None,
        in_chans: int = 3,
        pretrained_backbone: bool = False,
        aux_head: bool = False,
        aux_weight: float = 0.4,
        drop_rate: float = 0.1,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}.")
        self.backbone_name = backbone
        self.num_classes = num_classes
        self.output_stride = self.default_output_stride if output_stride is None else output_stride
        self.aux_weight = aux_weight
        self.drop_rate = drop_rate
        self.encoder = create_backbone(
            backbone,
            self.output_stride,
            in_chans,
            pretrained_backbone,
            **{**self.feature_kwargs, **(backbone_kwargs or {})},
        )
        feature_info: Any = self.encoder.feature_info
        channels, reductions = feature_info.channels(), feature_info.reduction()
        self.decoder, self.num_features = self.build_decoder(channels, reductions)
        self.dropout = nn.Dropout2d(drop_rate) if drop_rate else nn.Identity()
        self.classifier = nn.Conv2d(self.num_features, num_classes, 1)
        self.aux_head = FCNHead(channels[-2], num_classes) if aux_head else None

    def build_decoder(self, channels: list[int], reductions: list[int]) -> tuple[nn.Module, int]:
        """The decode head over the feature list, and its output channels."""
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """Backbone feature maps, shallow to deep: ``[(B, C_i, H/r_i, W/r_i), ...]``."""
        return list(self.encoder(x))

    def forward_head(self, features: list[Tensor]) -> Tensor:
        """Logits at the decoder's resolution, ``(B, K, h, w)``."""
        return self.classifier(self.dropout(self.decoder(features)))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, K, H, W)`` at the input size, for any H, W."""
        return self.forward_with_aux(x, aux=False)[0]

    def forward_with_aux(self, x: Tensor, aux: bool = True) -> tuple[Tensor, Tensor | None]:
        """Main and auxiliary logits, both ``(B, K, H, W)``; aux is None without an aux head."""
        height, width = x.shape[-2], x.shape[-1]
        features = self.forward_features(x)
        logits = resize(self.forward_head(features), height, width)
        aux_logits: Tensor | None = None
        if aux and self.aux_head is not None:
            aux_logits = resize(self.aux_head(features[-2]), height, width)
        return logits, aux_logits

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (and the aux head's) with fresh ones for ``num_classes``."""
        self.num_classes = num_classes
        self.classifier = nn.Conv2d(self.num_features, num_classes, 1)
        if self.aux_head is not None:
            self.aux_head.classifier = nn.Conv2d(
                self.aux_head.classifier.in_channels, num_classes, 1
            )


def tracing() -> bool:
    """True while ``torch.jit.trace`` or the ONNX exporter records the model: shape checks
    must not pick a branch then (the recorded graph would keep it for every input size).
    False in TorchScript, ``torch.fx`` and ``torch.compile``, whose graphs keep the checks."""
    if torch.jit.is_scripting():
        return False
    return _recording()


@torch.jit.unused
def _recording() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


class AdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """``nn.AdaptiveAvgPool2d`` that also records for any input size when traced.

    Eager runs PyTorch's own kernel. When traced (ONNX export), bins larger than one become
    two averaging matrices, ``(bins, H) @ x @ (W, bins)``: bin ``i`` of ``n`` over a length
    ``L`` averages ``[floor(i·L/n), ceil((i+1)·L/n))``, PyTorch's definition, computed from
    the input's shape inside the graph (ONNX's pooling ops need sizes fixed at export).
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__(output_size)
        bins = (output_size, output_size) if isinstance(output_size, int) else output_size
        fixed = None not in bins and tuple(bins) != (1, 1)
        #: The bins recorded as averaging matrices, ``(0, 0)`` where the kernel is kept.
        self.matrix_bins: tuple[int, int] = (int(bins[0]), int(bins[1])) if fixed else (0, 0)

    def forward(self, x: Tensor) -> Tensor:
        if self.matrix_bins[0] > 0 and tracing():
            rows = _averaging_matrix(x.shape[-2], self.matrix_bins[0], x)  # (bins_h, H)
            cols = _averaging_matrix(x.shape[-1], self.matrix_bins[1], x)  # (bins_w, W)
            return rows @ x @ cols.transpose(0, 1)  # (B, C, bins_h, bins_w)
        return F.adaptive_avg_pool2d(x, self.output_size)


def _averaging_matrix(length: int, bins: int, like: Tensor) -> Tensor:
    """``(bins, length)`` matrix whose rows average adaptive pooling's windows."""
    index = torch.arange(bins, device=like.device)
    start = (index * length) // bins
    end = ((index + 1) * length + bins - 1) // bins
    position = torch.arange(length, device=like.device)
    inside = (position[None] >= start[:, None]) & (position[None] < end[:, None])
    return inside.to(like.dtype) / (end - start)[:, None].to(like.dtype)


@register_notrace_function  # torch.fx: one call, its size check runs when the graph runs
def resize(x: Tensor, height: int, width: int) -> Tensor:
    """``(B, C, h, w) → (B, C, height, width)``, bilinear (``align_corners=False``); returned
    as it is when already that size (except while :func:`tracing`, which records the resize)."""
    if not tracing() and x.shape[-2] == height and x.shape[-1] == width:
        return x
    return F.interpolate(x, size=[height, width], mode="bilinear", align_corners=False)


def create_backbone(
    name: str, output_stride: int, in_chans: int, pretrained: bool, **kwargs: Any
) -> nn.Module:
    """A timm ``features_only`` backbone, optionally with its ImageNet classification weights.

    Raises:
        ConfigError: Unsupported ``output_stride`` for this backbone.
        UnknownModelError: Unknown backbone name.
        CheckpointError: The pretrained weights do not fit the feature extractor.
    """
    if output_stride not in (8, 16, 32):
        raise ConfigError(f"output_stride must be 8, 16 or 32, got {output_stride!r}")
    if not isinstance(name, str):
        raise unknown_model(repr(name))
    resolve_name(name)  # unknown backbones and tags: close matches / valid tags
    if output_stride != 32:
        kwargs["output_stride"] = output_stride
    try:
        encoder = timm.create_model(name, features_only=True, in_chans=in_chans, **kwargs)
    except (TypeError, AssertionError, ValueError) as exc:
        if output_stride != 32:
            raise ConfigError(
                f"Backbone '{name}' cannot produce output_stride={output_stride} ({exc}); "
                "use output_stride=32 or a backbone that supports dilation (ResNet, EfficientNet,"
                " ConvNeXt, ...)."
            ) from exc
        raise
    if pretrained:
        _load_backbone_weights(encoder, name, in_chans)
    return encoder


def _load_backbone_weights(encoder: nn.Module, name: str, in_chans: int) -> None:
    result = encoder.load_state_dict(backbone_state_dict(name, in_chans), strict=False)
    if result.missing_keys:
        raise CheckpointError(
            f"Pretrained weights of '{name}' miss {len(result.missing_keys)} backbone tensors, "
            f"e.g. {result.missing_keys[:3]}"
        )


def backbone_normalization(backbone: str) -> dict[str, Any]:
    """The mean/std the backbone's weights were trained with (its timm pretrained cfg), and
    the name of its first conv inside the segmentation model."""
    cfg = get_pretrained_cfg(resolve_name(backbone)) if isinstance(backbone, str) else None
    return dict(
        mean=tuple(cfg.mean) if cfg is not None else IMAGENET_DEFAULT_MEAN,
        std=tuple(cfg.std) if cfg is not None else IMAGENET_DEFAULT_STD,
        first_conv=f"encoder.{getattr(cfg, 'first_conv', None) or 'conv1'}",
    )


def dataset_fields(dataset: str, **meta: Any) -> dict[str, Any]:
    """cfg fields for weights trained on ``dataset``: its labels and palette (its terms of use
    are read from its record, :attr:`ZooMeta.terms`).

    Pass the result to :func:`seg_cfg`; ``meta`` adds record fields (``metrics``,
    ``test_resize``).
    """
    info = dataset_info(dataset)
    record = ZooMeta(task="segmentation", palette=info.palette, dataset=info.name, **meta)
    return dict(num_classes=len(info.labels), label_names=info.labels, zoo=record)


def seg_cfg(backbone: str, contract_limits: dict[str, str] | None = None, **kwargs: Any) -> ZooCfg:
    """A segmentation tag's record: VOC labels and palette by default, the backbone's
    normalisation, 512×512 nominal input; ``kwargs`` override (timm fields, or ``zoo=``);
    ``contract_limits`` goes into the zoo record (:attr:`ZooMeta.contract_limits`)."""
    fields: dict[str, Any] = dict(
        url="",
        num_classes=len(VOC_CLASSES),
        label_names=VOC_CLASSES,
        input_size=(3, 512, 512),
        fixed_input_size=False,
        interpolation="bilinear",
        crop_pct=1.0,
        crop_mode="center",
        classifier=("classifier", "aux_head.classifier"),
        license="apache-2.0",
        zoo=ZooMeta(task="segmentation", palette=voc_palette(len(VOC_CLASSES))),
        **backbone_normalization(backbone),
    )
    fields.update(kwargs)
    if contract_limits:
        fields["zoo"] = dataclasses.replace(fields["zoo"], contract_limits=contract_limits)
    return ZooCfg(**fields)


def build_segmentation(
    model_cls: type[SegmentationModel], variant: str, pretrained: bool = False, **kwargs: Any
) -> SegmentationModel:
    """Build a registered segmentation variant through timm's builder (pretrained cfg, weights).

    Loading full segmentation weights skips the backbone's ImageNet weights and keeps the
    weights' own normalisation; otherwise a ``backbone=`` argument brings its normalisation.
    """
    if pretrained:
        kwargs["pretrained_backbone"] = False
    elif isinstance(kwargs.get("backbone"), str):
        overlay = dict(kwargs.pop("pretrained_cfg_overlay", None) or {})
        kwargs["pretrained_cfg_overlay"] = {**backbone_normalization(kwargs["backbone"]), **overlay}
    return build_model_with_cfg(
        model_cls,
        variant,
        pretrained,
        pretrained_filter_fn=segmentation_checkpoint_filter,
        pretrained_strict=True,
        **kwargs,
    )
