"""Mixed precision per device: ``--amp auto`` (the default) is bf16 on a CUDA GPU that has it,
fp16 on an older one, and off on a CPU, where autocast is usually much slower than fp32; an
explicit ``bf16``/``fp16`` on a CPU still runs, with one warning line."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from train import TrainConfig
from train.__main__ import parser
from train.build import resolve_amp

TINY = dict(model="resnet20_cifar", data="digits", batch_size=8, max_steps_per_epoch=1,
            progress=False)  # fmt: skip


def _autocast_during_one_step(config: TrainConfig) -> list[bool]:
    """Whether CPU autocast was on inside the model's forward, for one training step."""
    from train.loop import prepare_run, train_step

    run = prepare_run(config)
    seen: list[bool] = []
    run.model.register_forward_hook(
        lambda *_: seen.append(torch.is_autocast_enabled("cpu"))  # type: ignore[arg-type]
    )
    images, targets = next(iter(run.train_loader))
    loss = train_step(run, images, targets)
    assert torch.isfinite(loss)
    assert run.accelerator.mixed_precision == ("bf16" if config.amp == "bf16" else "no")
    return seen


def test_auto_is_the_default_and_off_on_a_cpu(tmp_path, capsys):
    assert TrainConfig(model="m", data="digits").amp == "auto"
    assert parser().parse_args(["--model", "m", "--data", "digits"]).amp == "auto"
    assert _autocast_during_one_step(TrainConfig(**TINY, output=str(tmp_path))) == [False]
    assert "mixed precision" not in capsys.readouterr().err


def test_explicit_bf16_on_a_cpu_warns_once_and_runs(tmp_path, capsys):
    seen = _autocast_during_one_step(TrainConfig(**TINY, amp="bf16", output=str(tmp_path)))
    assert seen == [True]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: --amp bf16 on a CPU"), err
    assert "usually much slower" in err and "--amp auto" in err


def test_explicit_fp16_on_a_cpu_says_it_trains_in_fp32(tmp_path, capsys):
    """accelerate does not autocast fp16 on a CPU; the run must not pretend it does."""
    seen = _autocast_during_one_step(TrainConfig(**TINY, amp="fp16", output=str(tmp_path)))
    assert seen == [False]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: --amp fp16 on a CPU"), err
    assert "trains in fp32" in err


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, "bf16"), (False, "fp16")])
def test_auto_on_cuda_picks_bf16_where_the_gpu_has_it(monkeypatch, native_bf16, expected):
    calls: list[dict[str, Any]] = []

    def is_bf16_supported(**kwargs: Any) -> bool:
        calls.append(kwargs)
        return native_bf16

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert resolve_amp("auto", torch.device("cuda", 1)) == (expected, None)
    assert calls == [{"including_emulation": False}]  # emulated bf16 (pre-Ampere) is slow
    for explicit in ("no", "bf16", "fp16"):  # asked for: used as asked, no warning on a GPU
        assert resolve_amp(explicit, "cuda") == (explicit, None)


def test_auto_elsewhere_is_off_and_no_is_never_warned():
    assert resolve_amp("auto", "cpu") == ("no", None)
    assert resolve_amp("auto", "mps") == ("no", None)
    assert resolve_amp("no", "cpu") == ("no", None)
    mode, warning = resolve_amp("bf16", torch.device("cpu"))
    assert mode == "bf16" and warning is not None and "\n" not in warning
    mode, warning = resolve_amp("fp16", "cpu")
    assert mode == "no" and warning is not None and "fp32" in warning
