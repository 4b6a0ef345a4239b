from __future__ import annotations

from torch import nn


def dilations(module: nn.Module) -> list[int]:
    """Dilation of every 3×3 conv in ``module``, in order."""
    return [
        m.dilation[0]
        for m in module.modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
    ]
