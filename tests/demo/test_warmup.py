"""The background warm-up at start: the default models are loaded and run once before the
first click, and the page can say how far it is."""

from __future__ import annotations

from demo.models import ModelCache
from demo.warmup import Warmup, default_models


def test_warmup_loads_and_runs_each_default_once(photos):
    import zoo

    cache = ModelCache()
    models = [
        ("mediapipe_selfie", "segmentation"),
        ("tf_efficientnet_lite0.in1k", "classification"),
        ("mediapipe_selfie", "segmentation"),  # listed twice (two tabs): warmed once
        ("pspnet_resnet50", "segmentation"),  # no weights anywhere: skipped, said why
    ]
    warmup = Warmup(cache, models, photos["coffee.png"], backend="pytorch")
    assert "Warming up" in warmup.status() and "0 of 3" in warmup.status()
    assert warmup.start().ready.wait(timeout=300)
    assert warmup.done == ["mediapipe_selfie", "tf_efficientnet_lite0.in1k"]
    assert "no pretrained weights" in warmup.skipped["pspnet_resnet50"]
    assert warmup.status().startswith("Ready: 2 of 3 default models warmed up in ")
    assert "1 could not be prepared" in warmup.status()
    # a visitor's first click finds the model loaded and past its cold first run
    info = zoo.model_info("tf_efficientnet_lite0.in1k", check_availability=True)
    loaded = cache.get(info)
    assert "pytorch" in loaded.first_ms and not loaded.record("pytorch", 10.0).first


def test_default_models_cover_every_tab():
    models = default_models()
    tasks = {task for _, task in models}
    assert tasks == {"classification", "segmentation"}
    assert ("tf_efficientnet_lite0.in1k", "classification") in models
    assert any(name.startswith("mediapipe_selfie") for name, _ in models)


def test_prepare_makes_the_exports_ahead_and_exits(monkeypatch, tmp_path, capsys):
    """`python app.py --prepare` (a Space's or container's build step): the defaults are
    exported to ONNX into the cache the server reads, then it exits without serving."""
    import app

    monkeypatch.setenv("ZOO_ONNX_CACHE", str(tmp_path))
    monkeypatch.setattr(app, "default_models", lambda: [("mediapipe_selfie", "segmentation")])
    assert app.main(["--prepare"]) == 0
    assert [p.name.split("-")[0] for p in tmp_path.glob("*.onnx")] == [
        "mediapipe_selfie.general_256"
    ]
    assert list(tmp_path.glob("*.json"))  # the "auto" choice, measured once, kept
    assert capsys.readouterr().out.startswith("vision-zoo: Ready: 1 of 1 default models")
    monkeypatch.setattr(app, "default_models", lambda: [("pspnet_resnet50", "segmentation")])
    assert app.main(["--prepare"]) == 1
    assert "pspnet_resnet50 not prepared: " in capsys.readouterr().err
