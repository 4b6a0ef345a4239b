"""timm's model contract, for every architecture the zoo registers (registry-parametrized).

The same properties timm's own ``tests/test_models.py`` checks, in their small form:

- classification: the default cfg's fields against the built model (``num_features``,
  ``head_hidden_size``, ``pool_size``, classifier and first-conv names), ``forward_features`` /
  ``forward_head(pre_logits=True)`` shapes, ``reset_classifier(0)`` and ``(0, "")``,
  ``features_only=True`` against ``feature_info``, ``torch.fx`` and TorchScript equal to
  eager, backward reaching every parameter;
- segmentation (whose contract is not classification-shaped): TorchScript and ``torch.fx``
  forward equal to eager, backward through ``forward_with_aux`` (main + auxiliary logits: aux
  heads are trained through that method, not ``forward``) reaching every parameter, the FX
  graph's backward reaching every parameter but the aux head's, ``torch.compile`` equal to eager.

Where a part cannot hold for a family, its records say so in ``contract_limits`` (shown
under the README's model table) and the test checks that it fails with a clear error.
One small variant per model file runs by default; with ``--runslow`` (CI) every variant that
runs code of its own (each head layout, each backbone family); with ``--runheavy`` also the
variants whose code a covered twin runs (deeper backbones, wider HRNets; minutes on 2 cores).
timm's tracer settings (its leaf modules and autowrapped functions) are used for ``torch.fx``,
as in timm's tests.
"""

from __future__ import annotations

import pytest
import torch
from timm.models import (
    get_notrace_functions,
    get_notrace_modules,
    get_pretrained_cfg,
    model_entrypoint,
)

import zoo
from tests.zoo.variants import HEAVY, quick_variants, small_kwargs
from zoo.meta import meta_of
from zoo.registry import zoo_architectures

#: Run by default (the rest with --runslow): at least one per model file.
QUICK = quick_variants()
SEG_SIZE = (64, 80)


def _cases(task: str, quick_only: bool = False) -> list:
    cases = []
    for name in zoo_architectures(task):
        if quick_only and name not in QUICK:
            continue
        slow = quick_only or name not in QUICK
        marks = (pytest.mark.heavy,) if name in HEAVY else (pytest.mark.slow,) if slow else ()
        cases.append(pytest.param(name, id=name, marks=marks))
    return cases


def limits(name: str) -> dict[str, str]:
    """The contract parts that do not hold for ``name`` (its record's ``contract_limits``):
    part → why."""
    return dict(meta_of(get_pretrained_cfg(name)).contract_limits)


def build(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return zoo.create_model(name, **{**small_kwargs(name), **kwargs})


class TimmTracer(torch.fx.Tracer):
    """``torch.fx`` tracer with timm's leaf modules and autowrapped functions."""

    def __init__(self) -> None:
        super().__init__(
            autowrap_functions=tuple(f for f in get_notrace_functions() if callable(f)),
            param_shapes_constant=True,
        )
        self.leaves = tuple(get_notrace_modules())

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, self.leaves) or super().is_leaf_module(m, module_qualified_name)


def fx_graph(model: torch.nn.Module) -> torch.fx.GraphModule:
    """``model`` symbolically traced (in its current train/eval mode)."""
    return torch.fx.GraphModule(model, TimmTracer().trace(model))


def assert_same(got: torch.Tensor, expected: torch.Tensor) -> None:
    scale = max(1.0, float(expected.abs().max()))  # float rounding grows with the values
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * scale)


def assert_every_parameter_has_a_gradient(model: torch.nn.Module, allow: str = "-") -> None:
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert all(n.startswith(allow) for n in missing), f"no gradient for {missing[:3]}"


# --- classification -----------------------------------------------------------------------


@pytest.mark.parametrize("name", _cases("classification"))
def test_classifier_cfg_and_heads(name):
    """timm's ``test_model_default_cfgs``: the cfg's fields describe the built model."""
    model = build(name).eval()
    cfg = model.pretrained_cfg
    assert model.num_classes == cfg["num_classes"] > 0
    assert model.num_features > 0 and model.head_hidden_size > 0
    x = torch.randn(1, *cfg["input_size"])
    with torch.no_grad():
        features = model.forward_features(x)
        pre_logits = model.forward_head(features, pre_logits=True)
        assert features.shape == (1, model.num_features, *cfg["pool_size"])
        assert pre_logits.shape == (1, model.head_hidden_size)
        model.reset_classifier(0)
        assert model.num_classes == 0
        assert_same(model(x), pre_logits)
        model.reset_classifier(0, "")
        assert model(x).shape == features.shape
        unpooled = build(name, num_classes=0, global_pool="").eval()
        assert unpooled(x).shape == features.shape
    state = build(name).state_dict()
    assert f"{cfg['classifier']}.weight" in state and f"{cfg['first_conv']}.weight" in state


@pytest.mark.parametrize("name", _cases("classification"))
def test_classifier_features_only_matches_feature_info(name):
    model = build(name, features_only=True).eval()
    channels, reductions = model.feature_info.channels(), model.feature_info.reduction()
    assert len(channels) >= 3
    size = (40, 48)
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, *size))
    assert [o.shape[1] for o in outputs] == channels
    for output, reduction in zip(outputs, reductions, strict=True):
        assert output.shape[-2:] == (size[0] // reduction, size[1] // reduction)


@pytest.mark.parametrize("name", _cases("classification"))
def test_classifier_fx_torchscript_and_backward(name):
    model = build(name, num_classes=7).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        assert_same(fx_graph(model)(x), expected)
        assert_same(torch.jit.script(model)(x), expected)
        assert_same(torch.jit.script(fx_graph(model))(x), expected)
    model.train()
    logits = model(x)
    assert logits.shape == (2, 7)
    logits.mean().backward()
    assert_every_parameter_has_a_gradient(model)


# --- segmentation -------------------------------------------------------------------------


@pytest.mark.parametrize("name", _cases("segmentation"))
def test_segmentation_torchscript_and_fx_match_eager(name):
    model = build(name).eval()
    x = torch.randn(1, 3, *SEG_SIZE)
    with torch.no_grad():
        expected = model(x)
        assert expected.shape == (1, model.num_classes, *SEG_SIZE)
        assert_same(torch.jit.script(model)(x), expected)
        assert_same(fx_graph(model)(x), expected)


@pytest.mark.parametrize("name", _cases("segmentation"))
def test_segmentation_backward_reaches_every_parameter(name):
    """Through ``forward_with_aux`` every parameter, aux head included, gets a gradient;
    through the FX graph of ``forward`` every one but the aux head's (used only in training)."""
    model = build(name, num_classes=5).train()
    x = torch.randn(2, 3, *SEG_SIZE)
    forward_with_aux = getattr(model, "forward_with_aux", None)
    if forward_with_aux is not None:
        logits, aux = forward_with_aux(x)
        loss = logits.logsumexp(1).mean() + (aux.logsumexp(1).mean() if aux is not None else 0)
    else:
        loss = model(x).logsumexp(1).mean()
    loss.backward()
    assert_every_parameter_has_a_gradient(model)
    model.zero_grad(set_to_none=True)
    graph = fx_graph(model)
    logits = graph(x)
    assert logits.shape == (2, 5, *SEG_SIZE)
    logits.logsumexp(1).mean().backward()
    assert_every_parameter_has_a_gradient(graph, allow="aux_head.")


@pytest.mark.parametrize("name", _cases("segmentation", quick_only=True)
                         + _cases("classification", quick_only=True))  # fmt: skip
def test_torch_compile_matches_eager(name):
    """Dynamo captures the forward (``backend="eager"``: the capture, not a code generator);
    in one graph unless its record's ``contract_limits`` says otherwise."""
    model = build(name).eval()
    task = zoo.model_info(name).task
    x = torch.randn(1, 3, *(SEG_SIZE if task == "segmentation" else (32, 32)))
    torch._dynamo.reset()
    with torch.no_grad():
        expected = model(x)
        assert_same(torch.compile(model, backend="eager")(x), expected)
        assert_same(torch.compile(model, backend="eager", fullgraph=True)(x), expected)
    if "torch.compile(fullgraph=True)" in limits(name):  # training: autograd through nn.LSTM
        model.train()
        with pytest.raises(Exception, match="LSTM"):
            torch.compile(model, backend="eager", fullgraph=True)(x)
        torch.compile(model, backend="eager")(x).mean().backward()  # with graph breaks


def test_every_model_file_has_a_quick_case():
    files = {model_entrypoint(a).__module__ for a in zoo_architectures()}
    assert {model_entrypoint(a).__module__ for a in QUICK} == files


def test_heavy_variants_are_twins_of_covered_ones():
    """A heavy variant is skipped in CI only because a covered one runs the same code: its twin
    is covered (not heavy itself), from the same model file, for the same task."""
    assert set(HEAVY) <= set(zoo_architectures()) and not set(HEAVY.values()) & set(HEAVY)
    for heavy, twin in HEAVY.items():
        assert model_entrypoint(heavy).__module__ == model_entrypoint(twin).__module__
        a, b = zoo.model_info(heavy), zoo.model_info(twin)
        assert a.task == b.task, heavy


def test_contract_limits_name_known_parts():
    known = {"torch.compile(fullgraph=True)", "TorchScript", "torch.fx"}
    for name in zoo_architectures():
        assert set(limits(name)) <= known, name
