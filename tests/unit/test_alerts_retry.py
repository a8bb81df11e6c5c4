"""Backoff with jitter, giving up, and the circuit breaker."""
from __future__ import annotations

import random

from services.alerts.config import Delivery
from services.alerts.retry import Circuit, backoff, gives_up

POLICY = Delivery(max_attempts=5, backoff_initial=2.0, backoff_max=60.0, jitter=0.25,
                  give_up_after=3600.0, circuit_failures=3, circuit_open=30.0)


def test_backoff_doubles_up_to_its_cap_minus_at_most_the_jitter() -> None:
    rng = random.Random(1)
    for attempt, full in [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (40, 60.0)]:
        delays = [backoff(POLICY, attempt, rng) for _ in range(200)]
        assert all(full * 0.75 <= d <= full for d in delays), (attempt, min(delays), max(delays))
        assert max(delays) - min(delays) > full * 0.2  # it does spread
    assert backoff(Delivery(jitter=0.0, backoff_initial=1.0), 3) == 4.0


def test_giving_up_after_max_attempts_or_too_long() -> None:
    assert not gives_up(POLICY, 4, first_attempt_at=0.0, now=100.0)
    assert gives_up(POLICY, 5, first_attempt_at=0.0, now=100.0)
    assert gives_up(POLICY, 2, first_attempt_at=0.0, now=3600.0)


def test_the_circuit_opens_after_failures_in_a_row_and_one_trial_decides() -> None:
    circuit = Circuit()
    for now in (0.0, 1.0):
        assert circuit.allows(now)
        circuit.failure(POLICY, now)
    circuit.success()  # a success in between: the count starts over
    for now in (2.0, 3.0, 4.0):
        assert circuit.allows(now)
        circuit.failure(POLICY, now)
    assert circuit.state(5.0) == "open"
    assert not circuit.allows(5.0) and not circuit.allows(33.9)
    assert circuit.allows(34.0)  # half-open: one trial ...
    assert not circuit.allows(34.1)  # ... and only one
    circuit.failure(POLICY, 35.0)  # the trial failed: open again for circuit_open
    assert not circuit.allows(64.9) and circuit.allows(65.0)
    circuit.success()
    assert circuit.state(65.0) == "closed" and circuit.allows(65.1) and circuit.allows(65.2)


def test_a_trial_that_never_reached_the_receiver_does_not_jam_the_circuit() -> None:
    circuit = Circuit()
    for now in (0.0, 1.0, 2.0):
        circuit.failure(POLICY, now)
    assert circuit.allows(40.0)
    circuit.abort()
    assert circuit.allows(40.5)
