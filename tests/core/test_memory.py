"""core/memory.py: what lives for the session leaves the full collections; True/False/None stay alive."""
from __future__ import annotations

import gc
import sys
import weakref

import pytest

from app.core import memory


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_keep_long_lived_freezes_what_is_alive_and_collects_garbage_first(unfrozen):
    class Cycle:
        pass

    a = Cycle()
    a.me = a  # unreachable once `a` goes: only the cyclic collector frees it
    gone = weakref.ref(a)
    del a
    kept = [[] for _ in range(1000)]
    memory.keep_long_lived()
    assert gc.get_freeze_count() >= len(kept)
    assert gone() is None  # collected, not frozen with the rest


def test_freeze_once_freezes_the_first_time_only(unfrozen, monkeypatch):
    monkeypatch.setattr(memory, "_frozen_once", False)
    memory.freeze_once()
    first = gc.get_freeze_count()
    assert first > 0
    made_since = [[] for _ in range(1000)]
    memory.freeze_once()
    assert gc.get_freeze_count() == first and len(made_since) == 1000  # what came since is not frozen


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="immortal since CPython 3.12")
def test_pinned_singletons_have_a_huge_reference_count():
    before = sys.getrefcount(True)
    memory.pin_singletons()
    assert sys.getrefcount(True) >= before + (1 << 40)
