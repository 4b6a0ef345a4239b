"""Run the fenced ``python`` and ``bash`` blocks of a Markdown file in order, as a reader would.

    python scripts/run_readme.py README.md [--tag quick-start] [--checkout DIR]

Python blocks run in one shared namespace (like cells of one notebook), shell blocks in
``bash -euo pipefail`` with this interpreter's ``bin/`` first on ``PATH`` (so ``python`` is this
interpreter), all in the current directory: run it from an empty temporary directory. An HTML
comment on the line right above a fence changes how its block runs:

- ``<!-- readme-test: skip (why) -->``: not run (only for what cannot run inside a test, such
  as the set-up commands that create the environment running it);
- ``<!-- readme-test: demo -->``: ``app.py`` of ``--checkout`` is started on a free port first
  (the block's ``127.0.0.1:7860`` is pointed at it) and stopped after the block;
- ``<!-- readme-test: quick-start -->``: part of the offline quick-start that ``--tag
  quick-start`` runs alone (scripts/check_dist.py runs it against the installed wheel).

Markers combine with commas (``quick-start, demo``). ``--checkout`` is put on ``PYTHONPATH``
for every block, as for a reader working in a checkout (``python -m train``, ``import demo``).
Each block's README line and run time are printed; the first failing block stops the run with
exit status 1.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->\s*$")
LANGUAGES = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
DEMO_URL = "127.0.0.1:7860"


@dataclass(frozen=True)
class Block:
    """One fenced block: its language (``python``/``bash``), source, first line, markers."""

    language: str
    source: str
    line: int
    markers: frozenset[str]


def blocks(text: str) -> list[Block]:
    """The runnable fenced blocks of Markdown ``text``, in order (other languages are kept out).

    Raises:
        ValueError: A fence is not closed, or a marker is not one of skip/demo/quick-start.
    """
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        start = i
        markers: set[str] = set()
        above = MARKER.match(lines[i - 1]) if i else None
        if above:
            for marker in above.group(1).split(","):
                word = marker.strip().split(" ", 1)[0]
                if word not in {"skip", "demo", "quick-start"}:
                    raise ValueError(f"line {i}: unknown readme-test marker {word!r}")
                markers.add(word)
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ValueError(f"line {start + 1}: fence is never closed")
        i += 1
        language = LANGUAGES.get(opening.group(1))
        if language:
            found.append(Block(language, "\n".join(body) + "\n", start + 2, frozenset(markers)))
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_app(
    python: str | Path, app_dir: Path, env: dict[str, str], log: Path, wait_s: float = 240
) -> tuple[subprocess.Popen, str]:
    """``python app.py --no-warmup`` in ``app_dir`` on a free port, its output in ``log`` (a
    file, so a chatty app never blocks on a full pipe); returns the process and its host:port
    once it answers HTTP. The background warm-up is left out: these checks make a request or
    two and stop the app, so warming every default model (ONNX exports on a fresh machine)
    would only compete with them for the CPU.

    Raises:
        RuntimeError: The app exited (the log's tail says why) or did not answer in ``wait_s``.
    """
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(python), "app.py", "--no-warmup"],
            cwd=app_dir,
            env={**env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"http://{address}/", timeout=2):
                return process, address
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"app.py did not answer within {wait_s:.0f} s")


def run_block(block: Block, namespace: dict, env: dict[str, str], checkout: Path | None) -> None:
    """Run one block; raises on failure (``CalledProcessError`` for a shell block)."""
    source, demo = block.source, None
    if "demo" in block.markers:
        if checkout is None:
            raise RuntimeError("a demo block needs --checkout")
        demo, address = start_app(sys.executable, checkout, env, Path("demo.log").resolve())
        source = source.replace(DEMO_URL, address)
    try:
        if block.language == "python":
            code = compile("\n" * (block.line - 1) + source, "README.md", "exec")
            exec(code, namespace)
        else:
            subprocess.run(["bash", "-euo", "pipefail", "-c", source], env=env, check=True)
    finally:
        if demo is not None:
            demo.terminate()
            demo.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("markdown", type=Path)
    parser.add_argument("--tag", help="run only the blocks with this marker (quick-start)")
    parser.add_argument("--checkout", type=Path, help="repository root, put on PYTHONPATH")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if args.checkout:
        checkout = args.checkout.resolve()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
        sys.path.insert(0, str(checkout))
    namespace: dict = {"__name__": "__readme__"}
    try:
        found = blocks(args.markdown.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        print(f"error: cannot read the blocks of {args.markdown}: {error}", file=sys.stderr)
        return 2
    selected = [
        b for b in found if "skip" not in b.markers and (args.tag is None or args.tag in b.markers)
    ]
    if not selected:
        print(f"no blocks to run in {args.markdown}", file=sys.stderr)
        return 1
    total = time.perf_counter()
    for block in selected:
        start = time.perf_counter()
        print(f"--- {args.markdown.name}:{block.line} ({block.language})", flush=True)
        try:
            run_block(block, namespace, env, args.checkout.resolve() if args.checkout else None)
        except Exception as error:
            if not isinstance(error, subprocess.CalledProcessError):
                traceback.print_exc()
            print(f"FAILED: the block at {args.markdown.name}:{block.line}: {error}", flush=True)
            return 1
        print(f"    ok in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"{len(selected)} blocks ran in {time.perf_counter() - total:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
