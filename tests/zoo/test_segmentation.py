"""Each segmentation head against its paper's structure, and composition with any backbone."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

import zoo
from zoo.models.slstm import SpatialLSTM, serpentine_index


def _dilations(module: nn.Module) -> list[int]:
    return [
        m.dilation[0]
        for m in module.modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
    ]


@pytest.mark.parametrize("size", [(97, 131), (33, 47), (256, 128)])
def test_logits_at_input_size_for_any_size(size):
    model = zoo.create_model("deeplabv3plus_tf_efficientnet_lite0", num_classes=4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 4, *size)


@pytest.mark.parametrize(("output_stride", "rates"), [(8, [12, 24, 36]), (16, [6, 12, 18])])
def test_deeplabv3_aspp_rates_follow_output_stride(output_stride, rates):
    model = zoo.create_model("deeplabv3", output_stride=output_stride)
    assert _dilations(model.decoder.aspp.convs) == rates
    assert isinstance(model.decoder.aspp.pool[0], nn.AdaptiveAvgPool2d)  # image pooling
    x = torch.randn(1, 3, 64, 64)
    assert model.forward_features(x)[-1].shape[-1] == 64 // output_stride


def test_deeplabv3plus_fuses_stride4_features():
    model = zoo.create_model("deeplabv3plus_resnet50")
    assert model.output_stride == 16
    assert _dilations(model.decoder.aspp.convs) == [6, 12, 18]
    decoder = model.decoder
    assert model.encoder.feature_info.reduction()[decoder.low_level_index] == 4
    assert decoder.low_level[0].in_channels == 256 and decoder.low_level[0].out_channels == 48
    assert decoder.fuse[0].in_channels == 256 + 48


def test_pspnet_is_paper_faithful():
    model = zoo.create_model("pspnet_resnet50")
    assert model.output_stride == 8
    assert [s[0].output_size for s in model.decoder.ppm.stages] == [1, 2, 3, 6]
    assert all(s[1].out_channels == 512 for s in model.decoder.ppm.stages)  # 2048 / 4
    assert model.decoder.bottleneck[0].kernel_size == (3, 3)
    assert model.dropout.p == pytest.approx(0.1)
    assert model.aux_weight == pytest.approx(0.4)
    assert model.aux_head.conv[0].in_channels == 1024  # stage 3 of ResNet-50
    x = torch.randn(2, 3, 64, 80)
    features = model.forward_features(x)
    assert features[-1].shape[-2:] == (8, 10)  # dilated to stride 8
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == aux.shape == (2, 21, 64, 80)
    assert isinstance(model(x), torch.Tensor)  # forward never returns the aux output


def test_models_without_aux_head():
    model = zoo.create_model("deeplabv3plus_tf_efficientnet_lite0", num_classes=3)
    logits, aux = model.forward_with_aux(torch.randn(2, 3, 64, 64))
    assert aux is None and logits.shape == (2, 3, 64, 64)


@pytest.mark.parametrize(
    ("name", "widths"), [("hrnetv2_w18", (18, 36, 72, 144)), ("hrnetv2_w48", (48, 96, 192, 384))]
)
def test_hrnetv2_uses_raw_branch_outputs(name, widths):
    model = zoo.create_model(name)
    info = model.encoder.feature_info
    assert tuple(info.channels()) == widths  # not the "incre" 128/256/512/1024 features
    assert tuple(info.reduction()) == (4, 8, 16, 32)
    fuse = model.decoder.fuse[0]
    assert fuse.kernel_size == (1, 1) and fuse.in_channels == fuse.out_channels == sum(widths)
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        assert model.decoder(model.forward_features(x)).shape[-2:] == (16, 16)  # stride 4


def test_serpentine_order():
    assert serpentine_index(3, 4).tolist() == [0, 1, 2, 3, 7, 6, 5, 4, 8, 9, 10, 11]


def test_zigzag_scan_is_one_lstm_over_the_serpentine_sequence():
    torch.manual_seed(0)
    layer = SpatialLSTM(channels=4, hidden=3, scan="zigzag").eval()
    x = torch.randn(2, 4, 3, 5)
    order = serpentine_index(3, 5)
    sequence = x.flatten(2)[..., order].transpose(1, 2)  # (B, 15, 4) serpentine
    expected, _ = layer.lstm(sequence)  # (B, 15, 6)
    out = layer(x).flatten(2).transpose(1, 2)  # (B, 15, 6) row-major
    assert torch.allclose(out[:, order], expected, atol=1e-6)


def test_renet_scan_sweeps_rows_then_columns():
    torch.manual_seed(0)
    layer = SpatialLSTM(channels=4, hidden=3, scan="renet").eval()
    x = torch.randn(1, 4, 3, 5)
    rows, _ = layer.lstm(x[0].permute(1, 2, 0))  # each of the 3 rows: (W=5, 4) → (5, 6)
    column, _ = layer.lstm_cols(rows[:, 2])  # column 2 across the rows: (H=3, 6) → (3, 6)
    assert torch.allclose(layer(x)[0, :, :, 2].T, column, atol=1e-6)


@pytest.mark.parametrize("scan", ["zigzag", "renet"])
def test_spatial_lstm_gives_every_position_global_context(scan):
    model = zoo.create_model("slstm_tf_efficientnet_lite0", num_classes=2, scan=scan).eval()
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    model(x)[0, 0, -1, -1].backward()  # bottom-right output pixel
    assert x.grad[0, :, :16, :16].abs().sum() > 0  # depends on the top-left corner


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="scan"):
        zoo.create_model("slstm_resnet50", scan="spiral")
    with pytest.raises(ValueError, match="output_stride"):
        zoo.create_model("deeplabv3", output_stride=4)
    with pytest.raises(ValueError, match=r"hrnet_w18.*output_stride=8"):
        zoo.create_model("hrnetv2_w18", output_stride=8)


def test_any_timm_backbone_composes():
    model = zoo.create_model("deeplabv3", backbone="convnext_tiny", num_classes=5)
    assert model.backbone_name == "convnext_tiny"
    assert model(torch.randn(2, 3, 64, 96)).shape == (2, 5, 64, 96)
    psp = zoo.create_model("pspnet", backbone="resnet18", num_classes=3, output_stride=16)
    assert psp(torch.randn(2, 3, 64, 64)).shape == (2, 3, 64, 64)


def test_pretrained_backbone_offline_weights():
    reference = zoo.create_model("tf_efficientnet_lite0.in1k", pretrained=True)
    for name in (
        "fcn_tf_efficientnet_lite0",
        "deeplabv3_tf_efficientnet_lite0",
        "deeplabv3plus_tf_efficientnet_lite0",
        "pspnet_tf_efficientnet_lite0",
        "slstm_tf_efficientnet_lite0",
    ):
        model = zoo.create_model(name, pretrained_backbone=True, num_classes=3)
        assert torch.equal(model.encoder.conv_stem.weight, reference.conv_stem.weight), name
        assert torch.equal(
            model.encoder.blocks[3][0].conv_pw.weight, reference.blocks[3][0].conv_pw.weight
        )


def test_pretrained_backbone_from_unreachable_hub_fails_fast():
    start = time.monotonic()
    with pytest.raises(zoo.HubUnreachableError, match="resnet50"):
        zoo.create_model("pspnet_resnet50", pretrained_backbone=True)
    assert time.monotonic() - start < 5.0


def test_new_classes_keep_pretrained_decoder(tmp_path):
    source = zoo.create_model("deeplabv3_tf_efficientnet_lite0", num_classes=21)
    zoo.save_pretrained(source, tmp_path)
    model = zoo.create_model(f"local-dir:{tmp_path}", num_classes=4)
    assert model.classifier.out_channels == 4
    assert torch.equal(model.decoder.head[0].weight, source.decoder.head[0].weight)
