"""The server's log: a visitor's mistake is one line, a bug in the server a traceback."""

from __future__ import annotations

import logging

import gradio as gr
import pytest

import zoo
from demo.picker import user_errors
from demo.policy import Policy

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

GOOD = "tf_efficientnet_lite0.in1k"


def _demo_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("demo")]


def test_a_bad_upload_and_an_unknown_name_are_one_line_each(
    app_url, photos, tmp_path, caplog, capfd
):
    """Through the served app: Gradio prints no traceback, the demo logs one line for each
    (the visitor still reads the message)."""
    client = Client(app_url, verbose=False)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="demo"):
        with pytest.raises(AppError, match=r"notes\.png is not an image"):
            client.predict(handle_file(str(bad)), [GOOD], api_name="/compare")
        raw, *_ = client.predict(handle_file(str(photos["coffee.png"])), ["resnet5O"],
                                 api_name="/compare")  # fmt: skip
    assert "Did you mean" in raw["results"][0]["error"]
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    upload, unknown = _demo_lines(caplog)
    assert upload.levelno == logging.INFO and "/compare: notes.png is not an image" in (
        upload.getMessage()
    )
    assert unknown.getMessage().startswith("resnet5O not run: Unknown model 'resnet5O'.")
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in (upload, unknown))


def _handler(exc: Exception):
    def on_run(payload, request: gr.Request | None = None, progress=gr.Progress()):
        raise exc

    return on_run


def test_user_errors_are_shown_without_a_traceback(caplog):
    for raised in (gr.Error("Choose at least one model."), zoo.InvalidImageError("x.png: bad")):
        run = user_errors(_handler(raised), "compare", Policy())
        with caplog.at_level(logging.INFO, logger="demo"), pytest.raises(gr.Error) as caught:
            run(None)
        assert caught.value.print_exception is False  # Gradio prints no traceback
        assert str(caught.value.message) == str(raised.args[0])
    assert [r.getMessage() for r in _demo_lines(caplog)] == [
        "/compare: Choose at least one model.",
        "/compare: x.png: bad",
    ]


def test_a_zoo_error_shows_no_server_path_in_public_mode():
    run = user_errors(_handler(zoo.ZooError("/srv/app/cache/x.png: bad")), "compare",
                      Policy(public=True))  # fmt: skip
    with pytest.raises(gr.Error) as caught:
        run(None)
    assert caught.value.message == "x.png: bad"


def test_a_bug_keeps_its_traceback(caplog):
    run = user_errors(_handler(KeyError("oops")), "compare", Policy())
    with caplog.at_level(logging.INFO, logger="demo"), pytest.raises(KeyError):
        run(None)
    assert not _demo_lines(caplog)  # unchanged: Gradio prints its traceback


def test_the_wrapped_handler_keeps_gradios_special_arguments():
    """Gradio finds ``gr.Request`` and ``gr.Progress`` through the wrapper."""
    import typing

    from gradio.helpers import special_args
    from gradio.utils import get_type_hints

    run = user_errors(_handler(KeyError("oops")), "compare", Policy())
    _, progress_index, *_ = special_args(run, [None], None)
    assert progress_index == 2
    assert gr.Request in typing.get_args(get_type_hints(run)["request"])


def test_a_streaming_handler_keeps_streaming_and_its_errors_are_one_line(caplog):
    def on_clip(names, request: gr.Request | None = None):
        yield ["first frame"]
        raise zoo.InvalidVideoError("clip.mp4 has no video frames.")

    run = user_errors(on_clip, "live_clip", Policy())
    import inspect

    assert inspect.isgeneratorfunction(run)  # Gradio streams what it yields
    stream = run(["m"])
    assert next(stream) == ["first frame"]
    with caplog.at_level(logging.INFO, logger="demo"), pytest.raises(gr.Error) as caught:
        next(stream)
    assert caught.value.print_exception is False
    (line,) = _demo_lines(caplog)
    assert line.getMessage() == "/live_clip: clip.mp4 has no video frames."
