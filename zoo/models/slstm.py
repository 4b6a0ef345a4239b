"""Spatial-LSTM segmentation head ("slstm") on any timm backbone.

A bidirectional LSTM reads the backbone's deepest feature map so every position sees context
from the whole image, then its output is fused with the features before the classifier.
Two scan modes:

- ``zigzag``: the map is flattened in serpentine order (row 0 left→right, row 1 right→left,
  ...) into one sequence of H·W positions for one bidirectional LSTM.
- ``renet``: a bidirectional LSTM sweeps every row, then another sweeps every column of the
  result (a ReNet layer: Visin et al., "ReNet: A Recurrent Neural Network Based Alternative to
  Convolutional Networks", 2015, arXiv:1505.00393).

``scan="none"`` builds the same head without the LSTM (reduce, then the 3×3 fuse conv over the
reduced features alone): the control of the ablation in ``benchmarks/results.py``.
"""

from __future__ import annotations

from typing import Any

import torch
from timm.models import generate_default_cfgs, register_model
from torch import Tensor, nn

from ..errors import ConfigError
from ._seg import (
    SegmentationModel,
    build_segmentation,
    conv_bn_relu,
    seg_cfg,
)

SCANS = ("zigzag", "renet")
#: Scan modes of the head: the LSTM's, or none (the ablation control).
HEAD_SCANS = (*SCANS, "none")
#: Parts of timm's model contract that do not hold for this family (in each variant's record).
_CONTRACT_LIMITS = {
    "torch.compile(fullgraph=True)": "in training, Dynamo does not capture nn.LSTM (it raises "
    "'Dynamo does not support RNN, GRU, or LSTM'); inference compiles in one graph, and "
    "training compiles without fullgraph (a graph break at each LSTM)",
}


def serpentine_index(height: int, width: int, device: torch.device | None = None) -> Tensor:
    """Flat (row-major) positions in serpentine order: even rows left→right, odd rows reversed.

    The order is its own inverse (reversing a row twice restores it), so the same index also
    puts serpentine-ordered values back in row-major order. Computed by arithmetic, so a traced
    (ONNX) graph computes it for the input's size.

    Returns:
        ``(H*W,)`` long tensor; ``x.flatten(2)[..., index]`` reorders a ``(B, C, H, W)`` map.
    """
    rows = torch.arange(height, device=device)[:, None]
    cols = torch.arange(width, device=device)[None, :]
    reversed_cols = torch.where(rows % 2 == 1, width - 1 - cols, cols)
    return (rows * width + reversed_cols).flatten()


class SpatialLSTM(nn.Module):
    """``(B, C, H, W) → (B, 2·hidden, H, W)``: a bidirectional LSTM over the feature map.

    Args:
        channels: Input channels C.
        hidden: Hidden size per direction.
        scan: ``"zigzag"`` or ``"renet"`` (see the module docstring).

    Raises:
        ConfigError: Unknown scan mode.
    """

    def __init__(self, channels: int, hidden: int, scan: str = "zigzag") -> None:
        super().__init__()
        if scan not in SCANS:
            raise ConfigError(f"scan must be one of {SCANS}, got {scan!r}")
        self.scan = scan
        self.lstm = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
        self.lstm_cols: nn.LSTM | None = None
        if scan == "renet":
            self.lstm_cols = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.lstm_cols is None:  # TorchScript compiles only the branch of this scan
            return self._zigzag(x)
        else:
            return self._renet(x)

    def _zigzag(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        order = serpentine_index(h, w, x.device)
        sequence = x.flatten(2)[:, :, order].transpose(1, 2)  # (B, H*W, C) in serpentine order
        out, _ = self.lstm(sequence)  # (B, H*W, 2h)
        restored = out[:, order]  # back to row-major positions (the order is an involution)
        return restored.transpose(1, 2).reshape(b, -1, h, w)  # (B, 2h, H, W)

    def _renet(self, x: Tensor) -> Tensor:
        assert self.lstm_cols is not None  # scan="renet" has one
        b, c, h, w = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(b * h, w, c)  # (B*H, W, C): each row a sequence
        rows, _ = self.lstm(rows)  # (B*H, W, 2h)
        d = rows.shape[-1]
        cols = rows.reshape(b, h, w, d).permute(0, 2, 1, 3).reshape(b * w, h, d)  # (B*W, H, 2h)
        cols, _ = self.lstm_cols(cols)  # (B*W, H, 2h)
        return cols.reshape(b, w, h, d).permute(0, 3, 2, 1)  # (B, 2h, H, W)


class SpatialLSTMDecoder(nn.Module):
    """Reduce the deepest features, run the spatial LSTM, fuse both with a 3×3 conv
    (``scan="none"``: no LSTM, the fuse conv sees the reduced features only)."""

    def __init__(self, in_channels: int, scan: str, channels: int = 256) -> None:
        super().__init__()
        self.reduce = conv_bn_relu(in_channels, channels, 1)
        self.lstm = SpatialLSTM(channels, channels // 2, scan) if scan != "none" else None
        self.fuse = conv_bn_relu((2 if self.lstm is not None else 1) * channels, channels, 3)

    def forward(self, features: list[Tensor]) -> Tensor:
        reduced = self.reduce(features[-1])  # (B, 256, h, w)
        if self.lstm is None:
            return self.fuse(reduced)
        context = self.lstm(reduced)  # (B, 256, h, w)
        return self.fuse(torch.cat([reduced, context], dim=1))


class SpatialLSTMSeg(SegmentationModel):
    """Backbone + spatial-LSTM head: ``(B, 3, H, W) → (B, K, H, W)`` logits.

    Args:
        backbone: timm backbone name.
        scan: ``"zigzag"`` (default), ``"renet"``, or ``"none"`` (no LSTM: the ablation
            control).
        **kwargs: See :class:`~zoo.models._seg.SegmentationModel` (output stride 32 by
            default: the LSTM's sequence grows with the square of the feature resolution).
    """

    default_output_stride = 32

    def __init__(self, backbone: str = "resnet50", scan: str = "zigzag", **kwargs: Any) -> None:
        if scan not in HEAD_SCANS:
            raise ConfigError(f"scan must be one of {HEAD_SCANS}, got {scan!r}")
        self.scan = scan
        super().__init__(backbone=backbone, **kwargs)

    def build_decoder(self, channels: list[int], reductions: list[int]) -> tuple[nn.Module, int]:
        return SpatialLSTMDecoder(channels[-1], self.scan), 256


_BACKBONES = ("resnet50", "efficientnet_b4", "tf_efficientnetv2_s", "tf_efficientnet_lite0")
_RENET = "arXiv:1505.00393"
_CFGS: dict[str, Any] = {
    f"slstm_{b}" if b else "slstm": seg_cfg(
        b or "resnet50", paper_ids=_RENET, contract_limits=_CONTRACT_LIMITS
    )
    for b in ("", *_BACKBONES)
}
default_cfgs = generate_default_cfgs(_CFGS)


def _slstm(variant: str, pretrained: bool, **kwargs: Any) -> SpatialLSTMSeg:
    return build_segmentation(SpatialLSTMSeg, variant, pretrained, **kwargs)  # type: ignore[return-value]


@register_model
def slstm(pretrained: bool = False, **kwargs: Any) -> SpatialLSTMSeg:
    """Spatial-LSTM head on any timm backbone (``backbone=...``, ``scan=...``)."""
    return _slstm("slstm", pretrained, **kwargs)


@register_model
def slstm_resnet50(pretrained: bool = False, **kwargs: Any) -> SpatialLSTMSeg:
    """Spatial-LSTM head on ResNet-50."""
    return _slstm("slstm_resnet50", pretrained, backbone="resnet50", **kwargs)


@register_model
def slstm_efficientnet_b4(pretrained: bool = False, **kwargs: Any) -> SpatialLSTMSeg:
    """Spatial-LSTM head on EfficientNet-B4."""
    return _slstm("slstm_efficientnet_b4", pretrained, backbone="efficientnet_b4", **kwargs)


@register_model
def slstm_tf_efficientnetv2_s(pretrained: bool = False, **kwargs: Any) -> SpatialLSTMSeg:
    """Spatial-LSTM head on EfficientNetV2-S."""
    return _slstm("slstm_tf_efficientnetv2_s", pretrained, backbone="tf_efficientnetv2_s", **kwargs)


@register_model
def slstm_tf_efficientnet_lite0(pretrained: bool = False, **kwargs: Any) -> SpatialLSTMSeg:
    """Spatial-LSTM head on EfficientNet-Lite0 (backbone weights offline)."""
    return _slstm(
        "slstm_tf_efficientnet_lite0", pretrained, backbone="tf_efficientnet_lite0", **kwargs
    )
