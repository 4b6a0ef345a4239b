"""What a public demo lets its visitors load and run: the one place that decides.

Public mode is on by default on a Hugging Face Space (``SPACE_ID`` is set), and is set
explicitly with ``VISION_ZOO_PUBLIC=1`` / ``0`` or ``python app.py --public`` / ``--no-public``
(the flag wins over the environment). Outside public mode nothing here refuses anything.

In public mode:

- ``local-dir:`` models load only from the folders in ``VISION_ZOO_LOCAL_ROOTS``
  (``os.pathsep``-separated; none by default, so ``local-dir:`` is off). Paths are resolved
  first, so ``..`` and symbolic links cannot leave a root.
- ``hf-hub:`` repositories (and registry names whose weights are on the Hub, unless the
  pickers list them) load when the repository matches ``VISION_ZOO_HUB_ALLOW``
  (comma-separated ``org/name`` or ``org/*`` patterns), or when what would be downloaded
  (``config.json`` and the weight file, sizes read from the Hub's file listing *before*
  anything is downloaded) is at most ``VISION_ZOO_HUB_MAX_MB`` (default 200) and fits in the
  process's download budget ``VISION_ZOO_HUB_BUDGET_MB`` (default 1000). Files already in the
  local cache are not counted.
- Every photo and video run shares one concurrency group of :data:`PUBLIC_CONCURRENCY`
  slots, the queue holds at most :data:`PUBLIC_QUEUE` waiting runs, and a visitor (a browser
  session) has at most one such run at a time (:class:`SessionGuard`). A Live stream holds a
  slot of its own (one stream at a time, cut after ``demo.live_tab.PUBLIC_SECONDS``).
- Messages shown to visitors never contain server paths (:meth:`Policy.public_text`).

A refusal is one sentence that says what to do instead; nothing is read or downloaded
before the check passes.
"""

from __future__ import annotations

import fnmatch
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import zoo

MB = 1024 * 1024
DEFAULT_HUB_MAX_MB = 200
DEFAULT_HUB_BUDGET_MB = 1000
#: Model runs at once across all visitors in public mode, and runs waiting in the queue.
PUBLIC_CONCURRENCY = 2
PUBLIC_QUEUE = 16
#: Runs a local server (``python app.py``) queues: a class of 40 sending at once all wait
#: their turn, told their place, rather than some being turned away.
LOCAL_QUEUE = 64
#: The files timm fetches from a Hub repository (config, then the first weight file present).
CONFIG_FILE = "config.json"
WEIGHT_FILES = (
    "model.safetensors",
    "open_clip_model.safetensors",
    "pytorch_model.bin",
    "open_clip_pytorch_model.bin",
)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
#: An absolute POSIX path of two or more parts not inside a URL or a ``prefix:`` name.
_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")
_SERVER_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"/:,;()\[\]<>`]+/)+[^\s'\"/:,;()\[\]<>`]*")


class PolicyError(ValueError):
    """A public-mode setting that cannot be used (the message names the variable)."""


def env_flag(environ: Mapping[str, str], name: str) -> bool | None:
    """``environ[name]`` as a boolean (``1/true/yes/on``, ``0/false/no/off``); None if unset.

    Raises:
        PolicyError: Any other value.
    """
    value = environ.get(name)
    if value is None:
        return None
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise PolicyError(f"{name} must be 1 or 0 (true/false), got {value!r}.")


def _megabytes(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default * MB
    try:
        number = float(value)
    except ValueError:
        raise PolicyError(f"{name} must be a number of megabytes, got {value!r}.") from None
    if number < 0:
        raise PolicyError(f"{name} must not be negative, got {value!r}.")
    return int(number * MB)


class HubLedger:
    """Bytes admitted for download from the Hub in this process, per repository."""

    def __init__(self) -> None:
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self._sizes.values())

    def admit(self, repo_id: str, size: int, budget: int) -> bool:
        """Record ``repo_id``'s download unless it would take the total past ``budget``
        (a repository admitted before passes again without counting twice)."""
        with self._lock:
            if repo_id in self._sizes:
                return True
            if sum(self._sizes.values()) + size > budget:
                return False
            self._sizes[repo_id] = size
            return True


@dataclass(frozen=True)
class Policy:
    """What visitors may load; :meth:`from_env` reads it. The default allows everything.

    Attributes:
        public: Whether public mode is on (when off, nothing is refused).
        local_roots: Resolved folders ``local-dir:`` models may come from (public mode).
        hub_allow: ``org/name`` / ``org/*`` patterns of Hub repositories loaded at any size.
        hub_max_bytes: Largest download from one other Hub repository.
        hub_budget_bytes: Total downloads from other Hub repositories in this process.
        curated: Names the pickers list (loaded without a size check).
        ledger: What has been admitted against the budget.
    """

    public: bool = False
    local_roots: tuple[Path, ...] = ()
    hub_allow: tuple[str, ...] = ()
    hub_max_bytes: int = DEFAULT_HUB_MAX_MB * MB
    hub_budget_bytes: int = DEFAULT_HUB_BUDGET_MB * MB
    curated: frozenset[str] = frozenset()
    ledger: HubLedger = field(default_factory=HubLedger, compare=False, repr=False)

    @classmethod
    def from_env(
        cls, public: bool | None = None, environ: Mapping[str, str] | None = None
    ) -> Policy:
        """The policy the environment describes (see the module docstring).

        Args:
            public: ``--public`` / ``--no-public`` (None: ``VISION_ZOO_PUBLIC``, else whether
                ``SPACE_ID`` is set).
            environ: The environment (default ``os.environ``).

        Raises:
            PolicyError: A variable with a value that cannot be used.
        """
        env = os.environ if environ is None else environ
        if public is None:
            flag = env_flag(env, "VISION_ZOO_PUBLIC")
            public = bool(env.get("SPACE_ID")) if flag is None else flag
        roots = tuple(
            Path(part).expanduser().resolve()
            for part in env.get("VISION_ZOO_LOCAL_ROOTS", "").split(os.pathsep)
            if part.strip()
        )
        allow = tuple(
            p.strip().lower() for p in env.get("VISION_ZOO_HUB_ALLOW", "").split(",") if p.strip()
        )
        return cls(
            public=public,
            local_roots=roots,
            hub_allow=allow,
            hub_max_bytes=_megabytes(env, "VISION_ZOO_HUB_MAX_MB", DEFAULT_HUB_MAX_MB),
            hub_budget_bytes=_megabytes(env, "VISION_ZOO_HUB_BUDGET_MB", DEFAULT_HUB_BUDGET_MB),
        )

    def with_curated(self, names: Iterable[str]) -> Policy:
        """This policy with ``names`` (what the pickers list) exempt from the Hub size check."""
        return replace(self, curated=frozenset(names), ledger=self.ledger)

    # -- what may load -------------------------------------------------------------------
    def refusal(self, name: str) -> str | None:
        """Why a visitor may not load ``name`` here (one sentence), or None when they may.

        Reads nothing and downloads nothing: a ``local-dir:`` path is only resolved, a Hub
        repository's file sizes come from its listing. A malformed name passes (the zoo's
        own message says what is wrong with it).
        """
        if not self.public:
            return None
        name = name.strip() if isinstance(name, str) else ""
        source, _, identifier = name.partition(":")
        if source == "local-dir":
            return self._local_refusal(identifier) if identifier.strip() else None
        if source == "hf-hub":
            repo_id, _, revision = identifier.partition("@")
            if not _REPO_ID.fullmatch(repo_id):
                return None  # the zoo's message says what a Hub name looks like
            return self._hub_refusal(f"hf-hub:{repo_id}", repo_id, revision or None)
        if name in self.curated:
            return None
        try:
            info = zoo.model_info(name)  # no network: where the weights would come from
        except zoo.ZooError:
            return None
        if info.name in self.curated or info.weights.kind != "hub":
            return None
        return self._hub_refusal(info.name, info.weights.location, None)

    def _local_refusal(self, identifier: str) -> str | None:
        if not self.local_roots:
            return (
                "Loading models from this server's folders (local-dir:) is turned off on this "
                "public demo; pick a listed model or type hf-hub:ORG/NAME."
            )
        resolved = Path(identifier).expanduser().resolve()  # `..` and symlinks resolved
        if any(resolved.is_relative_to(root) for root in self.local_roots):
            return None
        return (
            "This public demo loads local-dir: models only from the folders it was set up "
            "with, and this path is outside them; pick a listed model instead."
        )

    def _hub_refusal(self, label: str, repo_id: str, revision: str | None) -> str | None:
        if any(fnmatch.fnmatchcase(repo_id.lower(), pattern) for pattern in self.hub_allow):
            return None
        if _cached(repo_id, revision) or not zoo.hub_reachable():
            return None  # nothing to download (or the zoo says the Hub is unreachable)
        try:
            size = download_size(repo_id, revision)
        except _NotFound:
            return None  # the zoo's message names the missing repository or revision
        except Exception:  # a Hub that answers with an error page, a timeout, ...
            return (
                f"The size of {label} could not be checked on the Hub, so this public demo "
                "does not download it; try again later or pick a listed model."
            )
        limit = self.hub_max_bytes
        if size > limit:
            return (
                f"{label} needs a {size / MB:.0f} MB download and this public demo downloads "
                f"Hub models of at most {limit / MB:.0f} MB; pick a listed model or a smaller "
                "repository."
            )
        if not self.ledger.admit(repo_id, size, self.hub_budget_bytes):
            return (
                f"This public demo's download budget ({self.hub_budget_bytes / MB:.0f} MB) is "
                "used up; pick a listed model."
            )
        return None

    # -- what visitors read --------------------------------------------------------------
    def public_text(self, text: str) -> str:
        """``text`` with server paths replaced by their last part (in public mode)."""
        return scrub_paths(text) if self.public else text

    # -- queue and concurrency -----------------------------------------------------------
    def queue_kwargs(self) -> dict[str, Any]:
        """Arguments for ``Blocks.queue``."""
        if self.public:
            return {"default_concurrency_limit": 1, "max_size": PUBLIC_QUEUE}
        return {"default_concurrency_limit": 1, "max_size": LOCAL_QUEUE}

    def event_kwargs(self) -> dict[str, Any]:
        """Concurrency arguments for every event that runs models."""
        if self.public:  # one group: the slots are shared by the three tabs
            return {"concurrency_limit": PUBLIC_CONCURRENCY, "concurrency_id": "models"}
        return {"concurrency_limit": 1}


class _NotFound(Exception):
    pass


def scrub_paths(text: str) -> str:
    """``text`` with each absolute path (``/a/b/c.png``) replaced by its last part
    (``c.png``); URLs and ``prefix:`` names are left alone."""
    return _SERVER_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "…", text)


def _cached(repo_id: str, revision: str | None) -> bool:
    """Whether ``config.json``'s and a weight file's copies are in the local Hub cache."""
    from huggingface_hub import try_to_load_from_cache

    def has(filename: str) -> bool:
        return isinstance(try_to_load_from_cache(repo_id, filename, revision=revision), str)

    return has(CONFIG_FILE) and any(has(f) for f in WEIGHT_FILES)


def download_size(repo_id: str, revision: str | None = None) -> int:
    """Bytes a load of ``repo_id`` downloads: ``config.json`` plus the first weight file of
    :data:`WEIGHT_FILES` present, from the repository's file listing (nothing downloaded).

    Raises:
        _NotFound: No such repository or revision.
        Exception: Whatever ``huggingface_hub`` raises when the listing cannot be read.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        entries = HfApi().list_repo_tree(repo_id, revision=revision)
        sizes = {e.path: int(getattr(e, "size", 0) or 0) for e in entries}
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise _NotFound(repo_id) from exc
    weights = next((sizes[f] for f in WEIGHT_FILES if f in sizes), 0)
    return sizes.get(CONFIG_FILE, 0) + weights


class SessionGuard:
    """At most ``limit`` runs at a time per visitor (Gradio session); 0 means no limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._active: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def run(self, request: Any) -> Iterator[None]:
        """Hold one of the visitor's slots while the body runs.

        Raises:
            gr.Error: The visitor already has ``limit`` runs going.
        """
        import gradio as gr

        key = _visitor(request)
        if not self.limit or key is None:
            yield
            return
        with self._lock:
            if self._active.get(key, 0) >= self.limit:
                raise gr.Error(
                    "Your previous run is still going; wait for it to finish, then try again."
                )
            self._active[key] = self._active.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._active[key] -= 1
                if not self._active[key]:
                    del self._active[key]


def _visitor(request: Any) -> str | None:
    """A visitor's key: the Gradio session, else the client's address (None: unknown)."""
    if request is None:
        return None
    session = getattr(request, "session_hash", None)
    if session:
        return f"session:{session}"
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return f"host:{host}" if host else None


def guard_for(policy: Policy) -> SessionGuard:
    """The per-visitor guard for ``policy`` (one run per visitor in public mode)."""
    return SessionGuard(1 if policy.public else 0)
