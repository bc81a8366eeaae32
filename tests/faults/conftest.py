"""Fixtures of the fault tests: processes ended whatever happens, a pause point's folder."""
from __future__ import annotations

import pytest

from tests.processes import Processes


@pytest.fixture
def processes(tmp_path):
    group = Processes(tmp_path)
    yield group
    group.stop()


@pytest.fixture
def pause_dir(tmp_path):
    directory = tmp_path / "pause"
    directory.mkdir()
    return directory
