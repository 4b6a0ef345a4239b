"""Prove the artefacts: the wheel and sdist, and the Hugging Face Space's environment.

    python scripts/check_dist.py [--keep DIR]

1. ``python -m build`` makes a wheel and an sdist; ``twine check`` accepts both; both carry
   LICENSE and NOTICE, and the weights the package ships (``zoo/bundled/*.safetensors``).
2. A fresh virtual environment is built the way a Gradio Space builds one: from
   ``space/requirements.txt`` alone (plus the Gradio of the Space's ``sdk_version``). The
   Space's files (``space/push.py --stage``) are started there with ``python app.py`` and
   ``SPACE_ID`` set (public mode), and one classification goes through its API.
3. The wheel is installed into the same environment (not editable; its declared dependencies
   are what step 2 installed: the Space's requirements are generated from them), ``pip check``
   passes, and every library block of the README (each Python block but the demo's, as
   ``scripts/run_readme.py --library`` selects them, shown outputs compared) runs in an empty
   directory outside the checkout, importing ``zoo`` from the installed wheel, with the tests'
   local Hub server (``tests/hub_server.py``) standing in for the Hub.

Run by ``make test`` (CI) after pytest; it needs the network only for PyPI (pip's cache makes
a second run fast). Exit status 1 with the failing step on the last line.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIP = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
REQUIRED = ("LICENSE", "NOTICE")
#: The offline environment every step runs in (no Hub; telemetry off).
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


class CheckFailed(Exception):
    """A step did not hold; the message says which and why."""


def run(args: list[str], **kwargs) -> str:
    """Run ``args``; their output, or :class:`CheckFailed` with its tail."""
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if done.returncode:
        tail = (done.stdout + done.stderr)[-3000:]
        raise CheckFailed(f"{' '.join(map(str, args[:4]))} ... exited {done.returncode}:\n{tail}")
    return done.stdout


def step(title: str) -> float:
    print(f"--- {title}", flush=True)
    return time.perf_counter()


def build(out: Path) -> tuple[Path, Path]:
    """Wheel and sdist of the checkout, checked by twine; their paths."""
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)])
    wheel, sdist = next(out.glob("*.whl")), next(out.glob("*.tar.gz"))
    run([sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)])
    return wheel, sdist


def check_contents(wheel: Path, sdist: Path) -> None:
    """LICENSE, NOTICE and the bundled weights are inside both artefacts."""
    bundled = sorted(p.name for p in (ROOT / "zoo" / "bundled").glob("*.safetensors"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    with tarfile.open(sdist) as archive:
        sdist_names = archive.getnames()
    for artefact, listing in ((wheel.name, names), (sdist.name, sdist_names)):
        base = {Path(n).name for n in listing}
        missing = [n for n in (*REQUIRED, *bundled) if n not in base]
        if missing:
            raise CheckFailed(f"{artefact} lacks {missing}")
    licences = [n for n in names if re.search(r"\.dist-info/licenses/(LICENSE|NOTICE)$", n)]
    if len(licences) != 2:
        raise CheckFailed(f"{wheel.name}: licence files not in .dist-info/licenses: {licences}")
    print(
        f"    {wheel.name}: {wheel.stat().st_size:,} B, {len(names)} files, "
        f"licences {', '.join(Path(n).name for n in licences)}, bundled {', '.join(bundled)}"
    )
    print(f"    {sdist.name}: {sdist.stat().st_size:,} B, {len(sdist_names)} entries")


def space_environment(venv: Path) -> Path:
    """A fresh venv from space/requirements.txt alone (and the Space's Gradio); its python."""
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    front = (ROOT / "space" / "README.md").read_text(encoding="utf-8")
    gradio = re.search(r"^sdk_version:\s*(\S+)", front, re.M)
    if not gradio:
        raise CheckFailed("space/README.md has no sdk_version")
    requirements = ROOT / "space" / "requirements.txt"
    run([str(python), *PIP, "-r", str(requirements), f"gradio=={gradio.group(1)}"])
    return python


def start_space(python: Path, folder: Path, env: dict[str, str]) -> None:
    """Start the staged Space's app.py, wait for it, classify one photo through its API."""
    from run_readme import start_app  # this script's neighbour (scripts/ is on sys.path)

    space_env = {**env, "SPACE_ID": "check/vision-zoo"}
    try:
        process, address = start_app(python, folder, space_env, folder.parent / "space.log")
    except RuntimeError as error:
        raise CheckFailed(f"the Space's {error}") from None
    try:
        client = (
            "import sys; from PIL import Image; from skimage import data\n"
            "from gradio_client import Client, handle_file\n"
            "Image.fromarray(data.chelsea()).save('cat.jpg')\n"
            "raw, *_ = Client(sys.argv[1], verbose=False).predict(handle_file('cat.jpg'),"
            " ['tf_efficientnet_lite0.in1k'], api_name='/compare')\n"
            "top = raw['results'][0]['top'][0]; print(top)\n"
            "assert 'cat' in top['label'], top\n"
        )
        url = f"http://{address}/"
        out = run([str(python), "-c", client, url], cwd=folder.parent, env=env, timeout=300)
        print(f"    the Space answered /compare: {out.strip()}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def install_wheel(python: Path, wheel: Path, work: Path, env: dict[str, str]) -> None:
    """Install the wheel (no deps: step 2 has them), pip check, and see ``zoo`` import from it
    in ``work``."""
    run([str(python), *PIP, "--no-deps", str(wheel)])
    run([str(python), "-m", "pip", "check"])
    where = run([str(python), "-c", "import zoo; print(zoo.__file__)"], cwd=work, env=env)
    if str(python.parents[1]) not in where:
        raise CheckFailed(f"zoo was imported from {where.strip()}, not the installed wheel")


def readme_library_blocks(python: Path, work: Path, env: dict[str, str]) -> None:
    """Run the README's library blocks with ``python`` in the empty folder ``work``, against
    the tests' local Hub server (``push_to_hub`` and ``hf-hub:`` loads need a Hub)."""
    sys.path.insert(0, str(ROOT))
    from run_readme import free_port  # this script's neighbour (scripts/ is on sys.path)

    from tests.hub_server import HubServer

    with HubServer(free_port()) as hub:
        hub_env = {**env, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
                   "HF_TOKEN": "hf_dummy_token_for_the_local_hub"}  # fmt: skip
        out = run(
            [str(python), str(ROOT / "scripts" / "run_readme.py"), str(ROOT / "README.md"),
             "--library"],
            cwd=work,
            env=hub_env,
            timeout=900,
        )  # fmt: skip
    print("    " + out.strip().replace("\n", "\n    "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zoo-dist-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(OFFLINE, HF_HOME=str(work / "hf-home"))
        total = time.perf_counter()
        try:
            start = step("build the wheel and sdist, twine check, contents")
            wheel, sdist = build(work / "dist")
            check_contents(wheel, sdist)
            print(f"    {time.perf_counter() - start:.0f} s")
            start = step("a fresh venv from space/requirements.txt, as a Space builds it")
            python = space_environment(work / "venv")
            print(f"    {time.perf_counter() - start:.0f} s")
            start = step("start the staged Space's app.py (public mode), one API call")
            run([sys.executable, str(ROOT / "space" / "push.py"), "--stage", str(work / "space")])
            start_space(python, work / "space", env)
            print(f"    {time.perf_counter() - start:.0f} s")
            start = step("install the wheel, pip check, README library blocks outside the checkout")
            (work / "readme").mkdir()
            install_wheel(python, wheel, work / "readme", env)
            readme_library_blocks(python, work / "readme", env)
            print(f"    {time.perf_counter() - start:.0f} s")
        except CheckFailed as failure:
            print(f"FAILED: {failure}", flush=True)
            return 1
        print(f"dist check passed in {time.perf_counter() - total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
