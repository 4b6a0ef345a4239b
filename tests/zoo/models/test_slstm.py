"""The spatial-LSTM ("ReNet") head: zigzag and renet scans."""

from __future__ import annotations

import pytest
import torch

import zoo
from tests.zoo.models.base import SegmentationFamily
from zoo.models.slstm import SpatialLSTM, serpentine_index


class TestSpatialLSTM(SegmentationFamily):
    module = "slstm"


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


def test_scan_none_is_the_same_head_without_the_lstm():
    """The ablation control: every module of the head but the LSTM, and a fuse conv over the
    reduced features alone (256 input channels instead of 512)."""
    kwargs = dict(backbone="test_resnet", num_classes=3, output_stride=8)
    with_lstm = zoo.create_model("slstm", **kwargs)
    without = zoo.create_model("slstm", scan="none", **kwargs)
    assert without.decoder.lstm is None
    lstm = sum(p.numel() for p in with_lstm.decoder.lstm.parameters())
    fuse_extra = 256 * 256 * 3 * 3  # the fuse conv's weights for the LSTM's 256 channels
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(with_lstm) - count(without) == lstm + fuse_extra
    assert without(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)
    with pytest.raises(zoo.ConfigError, match="none"):
        zoo.create_model("slstm", scan="diagonal", **kwargs)
