"""The garbage-collector pause of the ingest paths: reentrant, thread-safe, restores state."""

from __future__ import annotations

import gc
import threading

import pytest

from shuangtan.adapters.gcpause import gc_paused


@pytest.fixture(autouse=True)
def _restore_gc() -> object:
    was = gc.isenabled()
    yield None
    gc.enable() if was else gc.disable()


def test_pause_is_reentrant_and_restores_the_collector() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer batch is still running
    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off() -> None:
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_an_error_inside_still_restores() -> None:
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_overlapping_threads_restore_when_the_last_leaves() -> None:
    gc.enable()
    inside = threading.Barrier(3)
    leave = threading.Event()
    seen: list[bool] = []

    def batch() -> None:
        with gc_paused():
            inside.wait(5)
            leave.wait(5)
            seen.append(gc.isenabled())

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait(5)
    assert not gc.isenabled()
    leave.set()
    for t in threads:
        t.join(5)
    assert gc.isenabled()
    assert seen.count(True) <= 1  # the first to leave still sees it paused


def test_overlapping_batches_still_collect_now_and_then(monkeypatch: pytest.MonkeyPatch) -> None:
    from shuangtan.adapters import gcpause

    gc.enable()
    monkeypatch.setattr(gcpause, "MAX_PAUSE_S", 0.0)
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda *a: collected.append(1) or 0)
    with gc_paused():
        with gc_paused():
            pass  # ends while the outer still runs, past the longest pause
        assert collected == [1] and not gc.isenabled()
    assert gc.isenabled()
