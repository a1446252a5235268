from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.stack import Stack, running_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """nginx + gunicorn + an initialised appliance with the demo tenant, once per module."""
    with running_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running
