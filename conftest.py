"""The package's docstring examples name the sample captures by their path from the
repository root, as a reader there would type them: run those examples from there."""

from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _docstring_examples_run_from_the_repository_root(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.chdir(REPOSITORY_ROOT)
