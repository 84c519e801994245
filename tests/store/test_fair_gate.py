"""The unit of work's gate in front of the PostgreSQL pool: arrival order, no barging, reentrancy, timeout."""

from __future__ import annotations

import threading

import pytest

from consentry.store.uow import FairGate


def _wait_until(predicate, what: str) -> None:
    event = threading.Event()
    for _ in range(500):
        if predicate():
            return
        event.wait(0.01)
    raise AssertionError(f"timed out waiting until {what}")


def _start_waiter(gate: FairGate, name: str, order: list[str], released: threading.Event) -> threading.Thread:
    def run() -> None:
        with gate.enter():
            order.append(name)
            released.wait(5)

    before = gate.waiting
    thread = threading.Thread(target=run, name=name)
    thread.start()
    _wait_until(lambda: gate.waiting == before + 1, f"{name} queues")
    return thread


def test_waiters_are_admitted_in_arrival_order_and_a_returning_thread_does_not_jump_the_queue() -> None:
    gate = FairGate(1, timeout=5)
    order: list[str] = []
    go = threading.Event()
    holder_done = threading.Event()

    def holder() -> None:
        with gate.enter():
            order.append("holder")
            go.wait(5)
        # Straight back in, as a thread looping over work does: it must queue behind the waiters.
        with gate.enter():
            order.append("holder again")
        holder_done.set()

    first = threading.Thread(target=holder)
    first.start()
    _wait_until(lambda: order == ["holder"], "the holder is in")
    open_all = threading.Event()
    open_all.set()
    waiters = [_start_waiter(gate, f"w{i}", order, open_all) for i in range(3)]
    go.set()
    for thread in [first, *waiters]:
        thread.join(5)
    assert holder_done.is_set()
    assert order == ["holder", "w0", "w1", "w2", "holder again"]
    assert gate.waiting == 0


def test_a_thread_inside_passes_again_without_waiting() -> None:
    gate = FairGate(1, timeout=0.2)
    with gate.enter(), gate.enter():
        pass
    with gate.enter():  # the place was given back once, not twice or never
        pass


def test_a_wait_that_runs_out_raises_and_leaves_no_place_behind() -> None:
    gate = FairGate(1, timeout=0.05)
    inside, leave = threading.Event(), threading.Event()

    def holder() -> None:
        with gate.enter():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    inside.wait(5)
    with pytest.raises(TimeoutError, match="no database connection became free"), gate.enter():
        pass
    assert gate.waiting == 0
    leave.set()
    thread.join(5)
    with gate.enter():  # one place, free again
        pass
