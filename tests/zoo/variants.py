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


def is_generic(name: str) -> bool:
    """A head on any backbone (``deeplabv3``, ``fcn``): by the naming contract, the variants
    that fix a backbone are written ``{head}_{backbone}``."""
    return "_" not in name


#: What the tests build generic architectures with (the named variants keep their backbone).
SMALL = {"backbone": "resnet18"}


def small_kwargs(name: str) -> dict[str, str]:
    return dict(SMALL) if is_generic(name) else {}


def quick_variants() -> set[str]:
    """The variants run by default, derived from the registry so a new model file needs no
    edit here: one per model file, its smallest generic architecture (built with
    :data:`SMALL`), or its smallest variant when it has no generic one."""
    from timm.models import model_entrypoint

    from zoo.factory import count_params
    from zoo.registry import zoo_architectures

    files: dict[str, list[str]] = {}
    for name in zoo_architectures():
        files.setdefault(model_entrypoint(name).__module__, []).append(name)
    quick = set()
    for names in files.values():
        candidates = [n for n in names if is_generic(n)] or names
        quick.add(min(candidates, key=lambda n: count_params(n, **small_kwargs(n))))
    return quick
