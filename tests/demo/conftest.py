from __future__ import annotations

import pytest

from tests.conftest import free_port


@pytest.fixture(scope="session")
def app_url():
    """The demo app served in-process on a free port, as `python app.py` serves it."""
    from demo import build_demo, launch_kwargs

    demo = build_demo()
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_kwargs(),
    )
    yield f"http://127.0.0.1:{port}/"
    demo.close()
