"""`python -m services.<name>`: create the topics, build the service, run its faust worker."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from runtime.settings import Settings
from runtime.shell import LoopService
from runtime.topics import ensure_topics


def run_service(name: str, build: Callable[[Any], Any]) -> None:
    """Run until SIGTERM/SIGINT; on the way out faust's worker stops the processing core
    (`LoopService`), which commits the batches in hand."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env(name)
    service = LoopService(settings)
    build(service)
    # the contract's topics; the core creates its changelogs and internal topics itself
    creating = ensure_topics(
        settings.bootstrap, settings.topic_prefix, replication=settings.replication_factor)
    # In a thread of its own: the faust app is already built, and a loop run (and closed) on
    # this thread would not be the one faust's worker runs on (stack-notes: "different loop").
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, creating).result()
    sys.argv = [f"services.{name}", "worker", "--loglevel", "info"]
    service.app.main()
