"""The real Slurm, started once for the tests of this directory, or skipped with the reason."""
import pytest

from tests.slurm.jobs import slurm_ready


@pytest.fixture(scope="module")
def slurm():
    reason = slurm_ready()
    if reason:
        pytest.skip(reason)
