"""ResNets for CIFAR-10: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
(arXiv:1512.03385), §4.2.

A 3×3 conv stem with 16 channels, three stages of n basic blocks with 16/32/64 channels
(feature maps 32/16/8 on 32×32 inputs; stages 2 and 3 start with stride 2), global average
pooling and a linear classifier: 6n+2 layers. Shortcuts are identities; where the shape
changes they subsample by 2 and pad the new channels with zeros (the paper's option A), so
the shortcuts add no parameters: ResNet-20/32/44/56/110 have 0.27/0.46/0.66/0.85/1.7 M.
"""

# No ``from __future__ import annotations``: torch.fx copies the root forward's annotations
# into the code TorchScript compiles, and TorchScript reads class-level ones (timm contract).
from typing import Any

import torch.nn.functional as F
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import Tensor, nn

from ..errors import ConfigError
from ..meta import ZooCfg, ZooMeta

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an option-A (parameter-free) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.stride = stride
        self.pad = out_channels - in_channels

    def shortcut(self, x: Tensor) -> Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))  # zero channels
        return x

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet-(6n+2): ``(B, 3, 32, 32) → (B, num_classes)`` logits (any H, W works).

    Keeps timm's classifier contract: ``forward_features`` (unpooled ``(B, 64, H/4, W/4)``),
    ``forward_head(pre_logits=...)``, ``reset_classifier``, ``feature_info`` for
    ``features_only=True`` (the stem and the three stages), TorchScript and ``torch.fx``.

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, ...).
        num_classes: Output classes (0: no classifier, the pooled features are returned).
        in_chans: Input channels.
        drop_rate: Dropout before the classifier (0 in the paper).
        global_pool: ``"avg"`` (the paper's global average pooling) or ``""`` (none: the
            unpooled features, only with ``num_classes=0``).

    Raises:
        ConfigError: ``depth`` is not of the form 6n + 2, another ``global_pool``, or a
            classifier without pooling.
    """

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ConfigError(f"depth must be 6n+2 (20, 32, 44, 56, 110), got {depth}")
        n = (depth - 2) // 6
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = 64
        self.drop_rate = drop_rate
        self.global_pool = _check_pool(global_pool, num_classes)
        self.conv1 = nn.Conv2d(in_chans, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.ReLU()
        stages, channels = [], 16
        for stage, width in enumerate((16, 32, 64)):
            blocks = []
            for index in range(n):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.feature_info = [
            dict(num_chs=16, reduction=1, module="act1"),
            dict(num_chs=16, reduction=1, module="layer1"),
            dict(num_chs=32, reduction=2, module="layer2"),
            dict(num_chs=64, reduction=4, module="layer3"),
        ]
        self.fc = nn.Linear(64, num_classes) if num_classes else nn.Identity()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W) → (B, 64, H/4, W/4)``."""
        x = self.act1(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, 64, h, w)`` features → logits ``(B, K)``, or with ``pre_logits`` the pooled
        ``(B, 64)`` (unpooled when ``global_pool=""``)."""
        if self.global_pool == "avg":
            x = x.mean(dim=(2, 3))  # (B, 64)
        x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh classifier for ``num_classes`` (0: none); ``global_pool`` as in ``__init__``.

        Raises:
            ConfigError: Unknown ``global_pool``, or a classifier without pooling.
        """
        if global_pool is not None:
            self.global_pool = _check_pool(global_pool, num_classes)
        else:
            _check_pool(self.global_pool, num_classes)
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


def _check_pool(global_pool: str, num_classes: int) -> str:
    if global_pool not in ("avg", ""):
        raise ConfigError(
            f"CIFAR ResNets use global average pooling ('avg') or none (''), got {global_pool!r}"
        )
    if not global_pool and num_classes:
        raise ConfigError("global_pool='' (unpooled features) needs num_classes=0")
    return global_pool


def _cfg(**kwargs: Any) -> ZooCfg:
    return ZooCfg(
        url="",
        num_classes=10,
        label_names=CIFAR10_CLASSES,  # type: ignore[arg-type]
        input_size=(3, 32, 32),
        fixed_input_size=False,
        interpolation="bilinear",
        crop_pct=1.0,
        crop_mode="center",
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        pool_size=(8, 8),
        first_conv="conv1",
        classifier="fc",
        license="apache-2.0",
        paper_ids="arXiv:1512.03385",
        zoo=ZooMeta(task="classification"),
        **kwargs,
    )


DEPTHS = (20, 32, 44, 56, 110)
default_cfgs = generate_default_cfgs({f"resnet{d}_cifar": _cfg() for d in DEPTHS})


def _create(depth: int, pretrained: bool, **kwargs: Any) -> CifarResNet:
    return build_model_with_cfg(
        CifarResNet,
        f"resnet{depth}_cifar",
        pretrained,
        feature_cfg=dict(out_indices=(0, 1, 2, 3)),
        depth=depth,
        **kwargs,
    )


@register_model
def resnet20_cifar(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """ResNet-20 for CIFAR-10 (n=3, 0.27 M params)."""
    return _create(20, pretrained, **kwargs)


@register_model
def resnet32_cifar(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """ResNet-32 for CIFAR-10 (n=5, 0.46 M params)."""
    return _create(32, pretrained, **kwargs)


@register_model
def resnet44_cifar(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """ResNet-44 for CIFAR-10 (n=7, 0.66 M params)."""
    return _create(44, pretrained, **kwargs)


@register_model
def resnet56_cifar(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """ResNet-56 for CIFAR-10 (n=9, 0.85 M params)."""
    return _create(56, pretrained, **kwargs)


@register_model
def resnet110_cifar(pretrained: bool = False, **kwargs: Any) -> CifarResNet:
    """ResNet-110 for CIFAR-10 (n=18, 1.7 M params)."""
    return _create(110, pretrained, **kwargs)
