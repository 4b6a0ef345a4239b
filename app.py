"""Start the vision-zoo demo at http://127.0.0.1:7860 (GRADIO_SERVER_NAME/PORT override)."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from demo import build_demo, launch_kwargs

if __name__ == "__main__":
    build_demo().launch(**launch_kwargs())
