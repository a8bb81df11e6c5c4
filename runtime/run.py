"""`python -m services.<name>`: create the topics, build the service, run the faust worker."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from runtime.service import Service
from runtime.settings import Settings
from runtime.shell import LoopService, Shell
from runtime.topics import ensure_topics

ON_CORE = {"settlement", "quota"}  # the services moved to the processing core so far (issue 18)


def shell_of(name: str) -> type[Shell]:
    return LoopService if name in ON_CORE else Service


def run_service(name: str, build: Callable[[Any], Any]) -> None:
    """Run until SIGTERM/SIGINT; faust's worker stops the agents (or the processing core,
    `LoopService`) and commits on the way out."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env(name)
    service = shell_of(name)(settings)
    build(service)
    creating = ensure_topics(
        settings.bootstrap,
        settings.topic_prefix,
        replication=settings.replication_factor,
        internal=service.internal_topics,
        changelogs=service.changelog_topics(),
    )
    # In a thread of its own: the faust app is already built, and a loop run (and closed) on
    # this thread would not be the one faust's worker runs on (stack-notes: "different loop").
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, creating).result()
    sys.argv = [f"services.{name}", "worker", "--loglevel", "info"]
    service.app.main()
