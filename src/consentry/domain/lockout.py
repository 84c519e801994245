"""Password sign-in lockout: ten failures for one user within ten minutes lock that user out for a
minute (AADSTS50053). The counter belongs to the user, so locking one user never slows another.

    unlocked --failure (count < threshold)--> unlocked (count+1, window kept)
    unlocked --failure (count = threshold)--> locked until now + duration
    locked   --time passes-----------------> unlocked (count reset)
    any      --success---------------------> unlocked (count reset)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    threshold: int = 10
    window: timedelta = timedelta(minutes=10)
    duration: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class LockoutState:
    failures: int
    window_start: datetime | None
    locked_until: datetime | None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


EMPTY = LockoutState(0, None, None)


def record_failure(state: LockoutState, policy: LockoutPolicy, now: datetime) -> LockoutState:
    if state.window_start is None or now - state.window_start > policy.window or (
            state.locked_until is not None and now >= state.locked_until):
        state = LockoutState(0, now, None)
    failures = state.failures + 1
    locked_until = now + policy.duration if failures >= policy.threshold else None
    return LockoutState(failures, state.window_start, locked_until)
