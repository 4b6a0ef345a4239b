"""Test-wide set-up: no network. Runs before anything imports huggingface_hub, timm or gradio.

The Hub endpoint points at a closed port on 127.0.0.1 (tests that need a Hub start the local
Hub-compatible server and repoint it), caches live in a temporary HF_HOME, and telemetry and
analytics are off.
"""

from __future__ import annotations

import os
import socket
import tempfile


def load_benchmark(name: str):
    """``benchmarks/{name}.py`` as a module (benchmarks are scripts, not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    module_name = f"benchmark_{name}"
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_HF_HOME = tempfile.mkdtemp(prefix="zoo-tests-hf-")
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    HF_HOME=_HF_HOME,
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_TOKEN="hf_dummy_token_for_local_tests",
    NO_PROXY="127.0.0.1,localhost",
    no_proxy="127.0.0.1,localhost",
    GRADIO_ANALYTICS_ENABLED="False",
    TORCH_HOME=os.path.join(_HF_HOME, "torch"),
)
os.environ.pop("HF_HUB_OFFLINE", None)

# Under pytest-xdist, each worker gets its share of the cores (inherited by the trainings and
# apps the tests start): N workers each running torch on every core oversubscribe the machine,
# and on 2 cores that made the suite slower than one thread per worker.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, _THREADS)

import pytest  # noqa: E402

FAIL_FAST_S = 10.0
"""Bound for "fails within seconds" checks. What they guard against costs far more (Hub retries
~20 s on a refused port, minutes on a silent one); these 2-core machines vary 2-4x, so the
bound is loose. Whether a call touched the network is checked with ``connections``, not timed."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")
    parser.addoption(
        "--runheavy",
        action="store_true",
        help="also run tests marked heavy (larger twins of variants CI covers; minutes)",
    )


#: Files whose tests take minutes, run first: under ``-n 2 --dist loadfile
#: --no-loadscope-reorder`` (make test) one worker starts on them while the other takes the
#: rest, instead of one worker finishing the suite alone on them (xdist's default queues files
#: by their number of tests, which put the README's five tests last).
LONGEST_FIRST = ("tests/test_readme.py", "tests/train/test_fit.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within and after those files is kept
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow")
    skip_heavy = pytest.mark.skip(reason="heavy: pass --runheavy")
    for item in items:
        if "heavy" in item.keywords and not config.getoption("--runheavy"):
            item.add_marker(skip_heavy)
        elif "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)


@pytest.fixture(autouse=True)
def _forget_probes():
    """Each test probes hosts afresh: zoo.hub caches each probe's answer per host:port for
    30 s, and a port a test found closed can be handed, seconds later, to the next test's
    server."""
    import sys

    hub = sys.modules.get("zoo.hub")  # not imported here: import-time tests must see it unloaded
    if hub is not None:
        hub._probe_cache.clear()


@pytest.fixture(scope="module")
def hub_server():
    """The local Hub-compatible server at HF_ENDPOINT, for one test module (else the port is
    closed, i.e. an unreachable Hub)."""
    from urllib.parse import urlsplit

    from huggingface_hub.utils import close_session

    from tests.hub_server import HubServer

    with HubServer(int(urlsplit(os.environ["HF_ENDPOINT"]).port or 0)) as server:
        yield server  # each test forgets earlier probes of it (_forget_probes)
    close_session()  # pooled connections to this server must not reach the next module's


def refuse_connections(monkeypatch: pytest.MonkeyPatch) -> list:
    """From now on, refuse and record every outgoing TCP connection the test process attempts.

    Returns the list of attempted addresses: empty at the end shows that a call never touched
    the network (not even to probe the Hub). Listening servers in the process are unaffected.
    """
    attempts: list = []

    def refuse(sock: socket.socket, address, *args, **kwargs):
        attempts.append(address)
        raise ConnectionRefusedError(f"test forbids connecting to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def connections(monkeypatch) -> list:
    """:func:`refuse_connections` for the whole test."""
    return refuse_connections(monkeypatch)


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """An empty Hugging Face cache and no Xet (regular uploads)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    return tmp_path / "hub-cache"


@pytest.fixture(scope="session")
def lite0():
    """The pretrained tf_efficientnet_lite0.in1k (installed weights), in eval mode."""
    import zoo

    return zoo.create_model("tf_efficientnet_lite0.in1k", pretrained=True).eval()


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory):
    """Real example photos written from installed packages: name -> path."""
    from demo.examples import example_photos

    return {p.name: p for p in example_photos(tmp_path_factory.mktemp("photos"))}


@pytest.fixture(scope="session")
def person_exports(tmp_path_factory: pytest.TempPathFactory):
    """The bundled person model exported once per test process, float32 and int8:
    ``(model, folder with fp32.onnx and int8.onnx, the int8 ExportReport)``."""
    pytest.importorskip("onnxruntime")
    import zoo

    folder = tmp_path_factory.mktemp("person-exports")
    model = zoo.create_model("mediapipe_selfie.general_256", pretrained=True)
    zoo.export(model, folder / "fp32.onnx")
    report = zoo.export(model, folder / "int8.onnx", quantize="int8")
    return model, folder, report
