"""`python -m services.<name>`: create the topics, build the service, run the faust worker."""
from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

from runtime.service import Service
from runtime.settings import Settings
from runtime.topics import ensure_topics


def run_service(name: str, build: Callable[[Service], None]) -> None:
    """Run until SIGTERM/SIGINT; faust's worker stops the agents and commits on the way out."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(name)
    asyncio.run(ensure_topics(settings.bootstrap, settings.topic_prefix,
                              replication=settings.replication_factor))
    service = Service(settings)
    build(service)
    sys.argv = [f"services.{name}", "worker", "--loglevel", "info"]
    service.app.main()
