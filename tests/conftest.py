"""Session-wide: no test reads or fills the user's own paratune cache."""
import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    saved = os.environ.get("PARATUNE_CACHE")
    os.environ["PARATUNE_CACHE"] = str(tmp_path_factory.mktemp("paratune-cache"))
    yield
    if saved is None:
        os.environ.pop("PARATUNE_CACHE", None)
    else:
        os.environ["PARATUNE_CACHE"] = saved
