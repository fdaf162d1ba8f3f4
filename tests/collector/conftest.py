"""Fixtures of the writer and recorder tests."""
import pytest

from tests.mounts import tmpfs as mounted_tmpfs


@pytest.fixture
def tmpfs(tmp_path):
    """A 256 KiB tmpfs; skipped where mounting is not allowed."""
    with mounted_tmpfs(tmp_path / "small", "size=256k,mode=0755") as mnt:
        yield mnt
