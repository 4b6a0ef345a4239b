from __future__ import annotations

import pytest

from tests.conftest import free_port


@pytest.fixture(scope="session")
def model_cache():
    """One loaded-model cache for every app the tests serve (each model loads once)."""
    from demo.models import ModelCache

    return ModelCache()


def _serve(cache, public: bool):
    from demo import build_demo, launch_kwargs

    demo = build_demo(cache, public=public)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_kwargs(),
    )
    return demo, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="session")
def app_url(model_cache):
    """The demo app served in-process on a free port, as `python app.py` serves it."""
    demo, url = _serve(model_cache, public=False)
    yield url
    demo.close()


@pytest.fixture(scope="session")
def public_app_url(model_cache):
    """The demo in public mode (as on a Hugging Face Space), no local roots, no allow-list."""
    demo, url = _serve(model_cache, public=True)
    yield url
    demo.close()
