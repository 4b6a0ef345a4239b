"""Family test files subclass a base in ``base.py`` and name their module; every registered
variant of that module is fed to the base's tests as ``variant`` (registry-parametrized, so a
new variant is covered without edits)."""

from __future__ import annotations

import pytest

from tests.zoo.models.base import variants_of


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "variant" in metafunc.fixturenames and metafunc.cls is not None:
        metafunc.parametrize("variant", variants_of(metafunc.cls.module))
