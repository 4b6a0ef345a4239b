"""The zoo's architectures; importing this package registers them in timm's registry."""

from . import cifar_resnet, deeplab, fcn, hrnet, mediapipe_selfie, pspnet, slstm, timm_weights

__all__ = [
    "cifar_resnet",
    "deeplab",
    "fcn",
    "hrnet",
    "mediapipe_selfie",
    "pspnet",
    "slstm",
    "timm_weights",
]
