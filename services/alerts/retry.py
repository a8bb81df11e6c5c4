"""When to try a receiver again: exponential backoff with jitter, and a circuit breaker."""
from __future__ import annotations

import random
from dataclasses import dataclass

from services.alerts.config import Delivery


def backoff(policy: Delivery, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): initial x 2^(attempt-1), capped,
    minus up to `jitter` of itself so that receivers coming back are not hit in lockstep."""
    delay = min(policy.backoff_max, policy.backoff_initial * 2 ** min(attempt - 1, 60))
    return delay * (1 - policy.jitter * (rng or random).random())


def gives_up(policy: Delivery, attempt: int, first_attempt_at: float, now: float) -> bool:
    return attempt >= policy.max_attempts or now - first_attempt_at >= policy.give_up_after


@dataclass
class Circuit:
    """Per receiver: closed (send), open (send nothing until `open_until`), then half-open (one
    trial; success closes it, failure opens it again)."""

    failures: int = 0
    open_until: float = 0.0
    trial: bool = False

    def allows(self, now: float) -> bool:
        if self.open_until == 0.0:
            return True
        if now < self.open_until or self.trial:
            return False
        self.trial = True  # half-open: let exactly one attempt through
        return True

    def abort(self) -> None:
        """The trial never reached the receiver (our own error): allow another one."""
        self.trial = False

    def success(self) -> None:
        self.failures, self.open_until, self.trial = 0, 0.0, False

    def failure(self, policy: Delivery, now: float) -> None:
        self.failures += 1
        if self.trial or self.failures >= policy.circuit_failures:
            self.open_until, self.trial = now + policy.circuit_open, False

    def state(self, now: float) -> str:
        if self.open_until == 0.0:
            return "closed"
        return "open" if now < self.open_until and not self.trial else "half_open"
