"""The vision-zoo Gradio demo (run ``python app.py``). Imports zoo; never train."""

from .ui import build_demo, launch_kwargs

__all__ = ["build_demo", "launch_kwargs"]
