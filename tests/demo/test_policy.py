"""Public mode (demo.policy): what a visitor may load, refused before anything is read or
downloaded; the mode's switches; the queue and per-visitor bounds; no server paths."""

from __future__ import annotations

import os
from types import SimpleNamespace

import gradio as gr
import pytest

import zoo
from demo import policy as policy_module
from demo.models import describe
from demo.policy import MB, Policy, PolicyError, SessionGuard, scrub_paths

GOOD = "tf_efficientnet_lite0.in1k"


def _public(**env: str) -> Policy:
    return Policy.from_env(True, environ=env)


@pytest.fixture
def nothing_read(monkeypatch):
    """Fail the test if the zoo reads a model's config or builds a model."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"the zoo was called with {args} {kwargs}")

    monkeypatch.setattr(zoo, "model_info", refuse)
    monkeypatch.setattr(zoo, "create_model", refuse)


@pytest.fixture
def saved(tmp_path):
    """A saved classifier inside root/, one outside it, and a symlink from root/ to it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    model = zoo.create_model("resnet20_cifar")
    zoo.save_pretrained(model, root / "mine")
    zoo.save_pretrained(model, outside)
    (root / "link").symlink_to(outside, target_is_directory=True)
    return SimpleNamespace(root=root, inside=root / "mine", outside=outside)


# -- switches ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flag", "env", "public"),
    [
        (None, {}, False),
        (None, {"SPACE_ID": "me/demo"}, True),
        (None, {"SPACE_ID": "me/demo", "VISION_ZOO_PUBLIC": "0"}, False),
        (None, {"VISION_ZOO_PUBLIC": "1"}, True),
        (False, {"SPACE_ID": "me/demo"}, False),
        (True, {"VISION_ZOO_PUBLIC": "false"}, True),
    ],
)
def test_public_mode_switches(flag, env, public):
    assert Policy.from_env(flag, environ=env).public is public


def test_settings_are_read_and_checked(tmp_path):
    roots = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b" / ".." / "c")])
    policy = _public(
        VISION_ZOO_LOCAL_ROOTS=roots,
        VISION_ZOO_HUB_ALLOW="Me/*, org/model",
        VISION_ZOO_HUB_MAX_MB="50",
        VISION_ZOO_HUB_BUDGET_MB="500",
    )
    assert policy.local_roots == ((tmp_path / "a").resolve(), (tmp_path / "c").resolve())
    assert policy.hub_allow == ("me/*", "org/model")
    assert (policy.hub_max_bytes, policy.hub_budget_bytes) == (50 * MB, 500 * MB)
    assert _public().local_roots == () and _public().hub_max_bytes == 200 * MB
    with pytest.raises(PolicyError, match="VISION_ZOO_PUBLIC must be 1 or 0"):
        Policy.from_env(environ={"VISION_ZOO_PUBLIC": "maybe"})
    with pytest.raises(PolicyError, match="VISION_ZOO_HUB_MAX_MB must be a number"):
        _public(VISION_ZOO_HUB_MAX_MB="lots")


def test_app_flags():
    import app

    assert app.parse_args(["--public"]).public is True
    assert app.parse_args(["--no-public"]).public is False
    assert app.parse_args([]).public is None


def test_outside_public_mode_nothing_is_refused(saved):
    policy = Policy.from_env(False, environ={})
    assert policy.refusal(f"local-dir:{saved.outside}") is None
    assert policy.public_text("/srv/app/x.png failed") == "/srv/app/x.png failed"


# -- local-dir: ----------------------------------------------------------------------------
def test_local_dir_is_off_without_roots(saved, nothing_read):
    why = describe(f"local-dir:{saved.inside}", "classification", _public())
    assert "turned off on this public demo" in why and str(saved.root) not in why


@pytest.mark.parametrize("where", ["outside", "dotdot", "symlink", "relative"])
def test_paths_that_leave_the_roots_are_refused(saved, nothing_read, monkeypatch, where):
    monkeypatch.chdir(saved.root)
    name = {
        "outside": f"local-dir:{saved.outside}",
        "dotdot": f"local-dir:{saved.root}/../outside",
        "symlink": f"local-dir:{saved.root}/link",
        "relative": "local-dir:../outside",
    }[where]
    why = describe(name, "classification", _public(VISION_ZOO_LOCAL_ROOTS=str(saved.root)))
    assert isinstance(why, str) and "outside them" in why
    assert str(saved.root) not in why and str(saved.outside) not in why


def test_a_model_inside_a_root_loads(saved):
    policy = _public(VISION_ZOO_LOCAL_ROOTS=str(saved.root))
    info = describe(f"local-dir:{saved.root}/./mine", "classification", policy)
    assert isinstance(info, zoo.ModelInfo) and info.available


# -- hf-hub: -------------------------------------------------------------------------------
def _repo(server, repo_id, weight_bytes):
    from tests.hub_server import Repo

    repo = Repo()
    files = {"config.json": b'{"architecture": "resnet20_cifar"}', "README.md": b"x" * 10}
    files["model.safetensors"] = bytes(weight_bytes)
    repo.commit("main", files, set(), "init")
    server.state.repos[repo_id] = repo


def _downloads(server, cache):
    files = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    return files, [r for r in server.state.requests if "/resolve/" in r]


def test_a_hub_repository_over_the_cap_is_refused_before_downloading(
    hub_server, fresh_cache, monkeypatch
):
    _repo(hub_server, "tester/big", 3 * MB)
    created = []
    monkeypatch.setattr(zoo, "create_model", lambda *a, **k: created.append(a))
    policy = _public(VISION_ZOO_HUB_MAX_MB="2")
    why = describe("hf-hub:tester/big", "classification", policy)
    assert why == (
        "hf-hub:tester/big needs a 3 MB download and this public demo downloads Hub models of "
        "at most 2 MB; pick a listed model or a smaller repository."
    )
    assert _downloads(hub_server, fresh_cache) == ([], []) and not created
    assert any("/tree/" in r for r in hub_server.state.requests)  # sizes from the listing


def test_hub_allow_list_and_download_budget(hub_server, fresh_cache, monkeypatch):
    for name in ("one", "two"):
        _repo(hub_server, f"tester/{name}", 2 * MB)
    policy = _public(VISION_ZOO_HUB_MAX_MB="3", VISION_ZOO_HUB_BUDGET_MB="3")
    assert policy.refusal("hf-hub:tester/one") is None  # admitted: 2 of 3 MB
    assert policy.refusal("hf-hub:tester/one@main") is None  # counted once
    assert "download budget (3 MB) is used up" in policy.refusal("hf-hub:tester/two")
    assert (
        _public(VISION_ZOO_HUB_ALLOW="tester/*", VISION_ZOO_HUB_MAX_MB="1").refusal(
            "hf-hub:tester/two"
        )
        is None
    )
    monkeypatch.setattr(policy_module, "download_size", lambda *a: 1 / 0)
    assert "could not be checked" in _public().refusal("hf-hub:tester/new")
    assert _downloads(hub_server, fresh_cache) == ([], [])


def test_registry_names_with_hub_weights_are_size_checked_unless_listed(monkeypatch):
    seen = []
    monkeypatch.setattr(Policy, "_hub_refusal", lambda self, *a: seen.append(a) or "no")
    policy = _public().with_curated([GOOD, "resnet50.a1_in1k"])
    assert policy.refusal("resnet50.a1_in1k") is None and policy.refusal(GOOD) is None
    assert policy.refusal("convnext_tiny.in12k_ft_in1k") == "no"
    assert seen == [("convnext_tiny.in12k_ft_in1k", "timm/convnext_tiny.in12k_ft_in1k", None)]
    assert policy.refusal("resnet20_cifar") is None  # no weights: the zoo says so


# -- visitors ------------------------------------------------------------------------------
def test_one_run_at_a_time_per_visitor():
    guard = SessionGuard(1)
    alice, bob = SimpleNamespace(session_hash="a"), SimpleNamespace(session_hash="b")
    with guard.run(alice):
        with pytest.raises(gr.Error, match="previous run is still going"), guard.run(alice):
            pass
        with guard.run(bob):
            pass
    with guard.run(alice):  # released
        pass


def test_public_queue_and_concurrency():
    from demo import build_demo

    demo = build_demo(public=True)
    runs = [fn for fn in demo.fns.values() if fn.name.startswith("on_") and fn.name != "on_opacity"]
    live = [fn for fn in runs if fn.name in ("on_frame", "on_clip")]
    runs = [fn for fn in runs if fn not in live]
    assert len(runs) == 7  # four buttons, three example clicks (photos, photos, the clip)
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in runs} == {("models", 2)}
    # a live stream holds its slot while it runs (at most a minute in public mode): a group of
    # its own, so it never holds up the photo and video tabs
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in live} == {("live", 1)}
    assert {fn.time_limit for fn in live if fn.name == "on_frame"} == {60}
    assert demo._queue.max_size == 16


def test_server_paths_are_scrubbed():
    text = "Cannot read '/root/.cache/huggingface/hub/x/config.json': /tmp/gradio/ab/c.png bad"
    assert scrub_paths(text) == "Cannot read 'config.json': c.png bad"
    kept = "see https://huggingface.co/org/name, hf-hub:org/name, 1/2 and local-dir:runs/x"
    assert scrub_paths(kept) == kept


# -- the public app ------------------------------------------------------------------------
def test_public_app_serves_listed_models_and_refuses_server_folders(public_app_url, photos, saved):
    from gradio_client import Client, handle_file

    client = Client(public_app_url, verbose=False)
    image = handle_file(str(photos["coffee.png"]))
    raw, *_ = client.predict(image, [GOOD, f"local-dir:{saved.inside}"], api_name="/compare")
    good, refused = raw["results"]
    assert good["ok"] and good["top"][0]["label"] == "espresso"
    assert not refused["ok"] and "turned off on this public demo" in refused["error"]
    assert str(saved.root) not in refused["error"]
    raw, *_ = client.predict(image, ["mediapipe_selfie.general_256"], 0.5, api_name="/segment")
    assert raw["results"][0]["ok"]
