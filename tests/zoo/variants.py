"""Which registered variants the registry-parametrized tests may leave to ``--runheavy``."""

#: Variants whose code a covered twin runs (``--runheavy``; a test checks the twin): deeper or
#: wider backbones of the same head, and the other heads on EfficientNet-Lite0 (the backbone
#: wiring for EfficientNets is covered by ``deeplabv3plus_tf_efficientnet_lite0``).
HEAVY = {
    "deeplabv3_resnet50": "deeplabv3", "deeplabv3_resnet101": "deeplabv3",
    "deeplabv3_tf_efficientnet_lite0": "deeplabv3", "deeplabv3plus_resnet50": "deeplabv3plus",
    "fcn_resnet50": "fcn", "fcn_resnet101": "fcn", "fcn_tf_efficientnet_lite0": "fcn",
    "pspnet_resnet50": "pspnet", "pspnet_tf_efficientnet_lite0": "pspnet",
    "hrnetv2_w32": "hrnetv2_w18", "hrnetv2_w48": "hrnetv2_w18",
    "slstm_resnet50": "slstm", "slstm_efficientnet_b4": "slstm",
    "slstm_tf_efficientnetv2_s": "slstm", "slstm_tf_efficientnet_lite0": "slstm",
    "resnet32_cifar": "resnet20_cifar", "resnet44_cifar": "resnet56_cifar",
    "resnet110_cifar": "resnet56_cifar",
}  # fmt: skip
