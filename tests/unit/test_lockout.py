"""The password lockout state machine (AADSTS50053): ten failures within ten minutes lock for a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from consentry.domain.lockout import EMPTY, LockoutPolicy, LockoutState, record_failure

POLICY = LockoutPolicy()
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def fail(times: int, state: LockoutState = EMPTY, start: datetime = T0,
         step: timedelta = timedelta(seconds=1)) -> LockoutState:
    for i in range(times):
        state = record_failure(state, POLICY, start + i * step)
    return state


def test_no_failures_is_not_locked() -> None:
    assert not EMPTY.is_locked(T0)


def test_nine_failures_do_not_lock() -> None:
    state = fail(9)
    assert state.failures == 9
    assert not state.is_locked(T0 + timedelta(seconds=9))


def test_tenth_failure_locks_for_the_policy_duration() -> None:
    state = fail(10)
    last = T0 + timedelta(seconds=9)
    assert state.locked_until == last + POLICY.duration
    assert state.is_locked(last)
    assert state.is_locked(last + POLICY.duration - timedelta(microseconds=1))


def test_lock_ends_when_its_duration_has_passed() -> None:
    state = fail(10)
    assert not state.is_locked(state.locked_until)  # type: ignore[arg-type]


def test_failure_after_the_lock_ended_starts_a_new_count() -> None:
    state = fail(10)
    after = state.locked_until + timedelta(seconds=1)  # type: ignore[operator]
    state = record_failure(state, POLICY, after)
    assert state.failures == 1
    assert state.window_start == after
    assert not state.is_locked(after)


def test_failures_spread_beyond_the_window_do_not_lock() -> None:
    state = fail(9)
    later = T0 + POLICY.window + timedelta(seconds=1)
    state = record_failure(state, POLICY, later)
    assert state.failures == 1
    assert not state.is_locked(later)


def test_window_starts_at_the_first_failure() -> None:
    state = fail(3, step=timedelta(minutes=1))
    assert state.window_start == T0


def test_custom_threshold_is_respected() -> None:
    policy = LockoutPolicy(threshold=3, window=timedelta(minutes=5), duration=timedelta(minutes=2))
    state = EMPTY
    for i in range(3):
        state = record_failure(state, policy, T0 + timedelta(seconds=i))
    assert state.locked_until == T0 + timedelta(seconds=2, minutes=2)


@given(st.lists(st.integers(min_value=0, max_value=900), min_size=1, max_size=40))
def test_locked_only_after_threshold_failures_within_the_window(gaps: list[int]) -> None:
    state, now = EMPTY, T0
    for gap in gaps:
        now = now + timedelta(seconds=gap)
        state = record_failure(state, POLICY, now)
        assert 1 <= state.failures <= len(gaps)
        if state.is_locked(now):
            assert state.failures >= POLICY.threshold
            assert now - state.window_start <= POLICY.window  # type: ignore[operator]
            assert state.locked_until == now + POLICY.duration
