"""spare_what_exists: the collector skips what existed before the block,
still frees garbage made inside it, and is back to normal afterwards."""
from __future__ import annotations

import gc
import weakref

from paratune_base.collector import spare_what_exists


class _Node:
    def __init__(self):
        self.me = self              # a cycle: only the collector frees it


def test_cycles_made_inside_the_block_are_collected():
    with spare_what_exists():
        ref = weakref.ref(_Node())
        gc.collect()
        assert ref() is None


def test_what_existed_is_skipped_inside_and_collected_after():
    gc.collect()
    before = gc.get_freeze_count()
    node = _Node()
    ref = weakref.ref(node)
    with spare_what_exists():
        del node
        gc.collect()
        assert ref() is not None and gc.get_freeze_count() > before
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert ref() is None


def test_the_block_ends_normally_after_an_error():
    try:
        with spare_what_exists():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.get_freeze_count() == 0
