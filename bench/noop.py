"""The runtime's ceiling: `python -m bench.noop`, a service built on runtime.Service whose only
agent takes each order (decoded, checked for sequence and duplicates, counted) and does nothing
with it. Between faust's ceiling (bench.bare_faust) and the quota service: what the runtime's
per-event work costs apart from the quota service's own."""
from __future__ import annotations

from runtime.run import run_service
from runtime.service import Service
from schemas.envelope import CloudEvent


def build(service: Service) -> None:
    @service.consume("vbp.orders")
    async def ignore(event: CloudEvent) -> None:
        return None


if __name__ == "__main__":
    run_service("noop", build)
