"""Work that needs the broker is tried again while the broker does not answer."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaError

T = TypeVar("T")
log = logging.getLogger(__name__)


async def until_answered(
    attempt: Callable[[], Awaitable[T]],
    what: str,
    *,
    errors: tuple[type[BaseException], ...] = (KafkaError,),
    after_error: Callable[[BaseException], Awaitable[None]] | None = None,
) -> T:
    """`attempt()`'s result, tried again every half second while it raises one of `errors`: a
    broker that is down or electing a leader delays the work, it does not fail it (failed work
    would be dead-lettered). Logs the first failure and every 20th."""
    for tries in itertools.count(1):
        try:
            return await attempt()
        except errors as error:
            if tries % 20 == 1:
                log.warning("%s: broker did not answer (%r), trying again", what, error)
            if after_error is not None:
                await after_error(error)
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")
