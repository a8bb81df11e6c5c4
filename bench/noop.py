"""The runtime's ceiling: `python -m bench.noop`, a service on the processing core whose only
handler takes each order (decoded, checked, remembered by id, committed in the batch's
transaction) and does nothing with it. Between faust's ceiling (bench.bare_faust) and the quota
service: what the core's per-event work costs apart from the quota service's own."""
from __future__ import annotations

from runtime.run import run_service
from runtime.shell import LoopService
from schemas.envelope import CloudEvent


def build(service: LoopService) -> None:
    @service.consume("vbp.orders")
    async def ignore(event: CloudEvent) -> None:
        return None


if __name__ == "__main__":
    run_service("noop", build)
