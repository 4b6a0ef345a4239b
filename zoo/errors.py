"""Exceptions raised by the zoo.

Every error subclasses :class:`ZooError` and one of Python's built-in exception types, so callers
can catch either ``zoo.ZooError`` or the usual ``ValueError``/``RuntimeError``/``OSError``.
"""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class UnknownModelError(ZooError, ValueError):
    """A model name, tag or source prefix that the registry does not know."""


class WeightsUnavailableError(ZooError, RuntimeError):
    """Pretrained weights were asked for but cannot be loaded (none exist, or none reachable)."""


class HubUnreachableError(WeightsUnavailableError, ConnectionError):
    """The Hugging Face Hub cannot be reached and the files needed are not cached locally."""


class CheckpointError(ZooError, ValueError):
    """A saved model directory or weight file is missing, truncated or inconsistent (a
    problem with the file's content, so not an ``OSError``: a failing disk or network stays
    what it is)."""


class InvalidImageError(ZooError, ValueError):
    """An input that is not a decodable image, or one too large to process."""


class ConfigError(ZooError, ValueError):
    """An argument or configuration value the zoo cannot use (``num_classes`` ≤ 0, an
    ``output_stride`` the backbone cannot produce, a ``config.json`` that is not an object)."""


class InvalidVideoError(InvalidImageError):
    """An input that is not a video PyAV can decode, or one beyond the given limits."""


class MissingExtraError(ZooError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, extra: str) -> None:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``pip install
    'vision-zoo[extra]'``."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"This needs {module!r}, which is not installed: pip install 'vision-zoo[{extra}]'"
        ) from exc
