"""Run the fenced ``python`` and ``bash`` blocks of a Markdown file in order, as a reader would.

    python scripts/run_readme.py README.md [--library] [--checkout DIR]

Python blocks run in one shared namespace (like cells of one notebook), shell blocks in
``bash -euo pipefail`` with this interpreter's ``bin/`` first on ``PATH`` (so ``python`` is this
interpreter), all in the current directory: run it from an empty temporary directory. An HTML
comment on the line right above a fence changes how its block runs:

- ``<!-- readme-test: skip (why) -->``: not run (only for what cannot run inside a test, such
  as the set-up commands that create the environment running it);
- ``<!-- readme-test: demo -->``: ``app.py`` of ``--checkout`` is started on a free port first
  (the block's ``127.0.0.1:7860`` is pointed at it) and stopped after the block.

Markers combine with commas (``skip, demo``). The *library* blocks are the Python blocks that
are neither skipped nor demo blocks: they need only the installed package (and the extras the
README names), and ``--library`` runs them alone (scripts/check_dist.py runs them against the
installed wheel, outside the checkout).

Shown output is checked. In a Python block, the comment lines right below a top-level
``print(...)`` are what it prints (``# `` stripped), exactly; in a shell block, the comment
lines right below a command are lines it prints, in order, among the block's output. Prose
comments go above their statement or after a blank line.

``--checkout`` is put on ``PYTHONPATH`` for every block, as for a reader working in a checkout
(``python -m train``, ``import demo``). Each block's README line and run time are printed; the
first failing block stops the run with exit status 1.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
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
MARKERS = ("skip", "demo")
COMMENT = re.compile(r"^\s*#(?: (.*))?$")
LANGUAGES = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
DEMO_URL = "127.0.0.1:7860"


@dataclass(frozen=True)
class Block:
    """One fenced block: its language (``python``/``bash``), source, first line, markers."""

    language: str
    source: str
    line: int
    markers: frozenset[str]

    @property
    def library(self) -> bool:
        """A Python block that runs with the installed package alone (not skipped, no demo)."""
        return self.language == "python" and not self.markers & {"skip", "demo"}


class ShownOutputError(AssertionError):
    """A block's shown output (the comments below a print or a command) is not what ran."""


def blocks(text: str) -> list[Block]:
    """The runnable fenced blocks of Markdown ``text``, in order (other languages are kept out).

    Raises:
        ValueError: A fence is not closed, or a marker is not one of :data:`MARKERS`.
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
                if word not in MARKERS:
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


def free_port() -> int:
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
    port = free_port()
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


def run_block(
    block: Block,
    namespace: dict,
    env: dict[str, str],
    checkout: Path | None,
    name: str = "README.md",
) -> None:
    """Run one block and check its shown output; raises on failure (``CalledProcessError``
    for a failing shell block, :class:`ShownOutputError` for output that differs)."""
    source, demo = block.source, None
    if "demo" in block.markers:
        if checkout is None:
            raise RuntimeError("a demo block needs --checkout")
        demo, address = start_app(sys.executable, checkout, env, Path("demo.log").resolve())
        source = source.replace(DEMO_URL, address)
    try:
        if block.language == "python":
            run_python("\n" * (block.line - 1) + source, namespace, name)
        else:
            run_shell(source, block.line, env, name)
    finally:
        if demo is not None:
            demo.terminate()
            demo.wait(timeout=30)


def comments_below(lines: list[str], index: int) -> list[str]:
    """The comment lines from ``lines[index]`` on, up to the first other line, ``# `` removed."""
    found = []
    for text in lines[index:]:
        comment = COMMENT.match(text)
        if not comment:
            break
        found.append((comment.group(1) or "").rstrip())
    return found


def python_claims(source: str, name: str = "README.md") -> list[tuple[ast.stmt, list[str]]]:
    """Each top-level statement of ``source`` with the lines it must print: the comment lines
    right below it for a ``print(...)``, none for anything else."""
    lines = source.splitlines()
    claims = []
    for statement in ast.parse(source, name).body:
        shown = comments_below(lines, statement.end_lineno or statement.lineno)
        claims.append((statement, shown if _is_print(statement) else []))
    return claims


def run_python(source: str, namespace: dict, name: str = "README.md") -> None:
    """Run ``source`` (padded with blank lines to its README line) statement by statement;
    a top-level ``print(...)`` with comment lines right below must print exactly them."""
    for statement, shown in python_claims(source, name):
        code = compile(ast.Module(body=[statement], type_ignores=[]), name, "exec")
        if not shown:
            exec(code, namespace)
            continue
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            exec(code, namespace)
        printed = captured.getvalue()
        sys.stdout.write(printed)
        if [line.rstrip() for line in printed.rstrip("\n").split("\n")] != shown:
            raise ShownOutputError(
                f"{name}:{statement.lineno} prints {printed.rstrip()!r}, but the comment "
                f"below it shows {chr(10).join(shown)!r}"
            )


def _is_print(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Name)
        and statement.value.func.id == "print"
    )


def shell_claims(source: str) -> list[tuple[int, str]]:
    """``(line index, text)`` of each comment line right below a command's last line (one
    that does not end in ``\\``): a line the block must print."""
    lines = source.splitlines()
    claims = []
    for index, text in enumerate(lines):
        if text.strip() and not COMMENT.match(text) and not text.rstrip().endswith("\\"):
            below = comments_below(lines, index + 1)
            claims += [(index + 1 + k, shown) for k, shown in enumerate(below)]
    return claims


def run_shell(source: str, first_line: int, env: dict[str, str], name: str = "README.md") -> None:
    """Run ``source`` in bash, echoing its output; each shown line must appear in the output,
    in the order shown."""
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", source],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    assert process.stdout is not None
    printed = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        printed.append(line.rstrip())
    if process.wait():
        raise subprocess.CalledProcessError(process.returncode, "bash")
    position = 0
    for index, shown in shell_claims(source):
        if shown not in printed[position:]:
            raise ShownOutputError(
                f"{name}:{first_line + index} shows {shown!r}, but the commands above it "
                "did not print that line (after the lines shown before it)"
            )
        position = printed.index(shown, position) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("markdown", type=Path)
    parser.add_argument(
        "--library", action="store_true", help="run only the library blocks (see above)"
    )
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
    if args.library:
        selected = [b for b in found if b.library]
    else:
        selected = [b for b in found if "skip" not in b.markers]
    if not selected:
        print(f"no blocks to run in {args.markdown}", file=sys.stderr)
        return 1
    total = time.perf_counter()
    for block in selected:
        start = time.perf_counter()
        print(f"--- {args.markdown.name}:{block.line} ({block.language})", flush=True)
        try:
            checkout = args.checkout.resolve() if args.checkout else None
            run_block(block, namespace, env, checkout, args.markdown.name)
        except Exception as error:
            if not isinstance(error, (subprocess.CalledProcessError, ShownOutputError)):
                traceback.print_exc()
            print(f"FAILED: the block at {args.markdown.name}:{block.line}: {error}", flush=True)
            return 1
        print(f"    ok in {time.perf_counter() - start:.1f} s", flush=True)
    print(f"{len(selected)} blocks ran in {time.perf_counter() - total:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
