"""faust as the services' application shell: the app and its worker's lifecycle (start, SIGTERM,
shutdown), the web server with the service's routes, /health and /openapi.json, and timers.

`LoopService` runs the service's stream processing on the processing core (runtime/loop.py) as
an app task; faust's agents, tables, consumer and commit logic are not used (the app runs
`producer_only`, so faust joins no consumer group and reads nothing), and none of its methods is
replaced or read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import faust
from faust.web import View

from policies import load_profile
from runtime.commit import MAX_MESSAGE_BYTES
from runtime.loop import STALL_SECONDS, Handler, Processor, SharedHandler
from runtime.openapi import ApiDocument
from runtime.settings import Settings
from runtime.task import Table
from schemas.base import EventData
from schemas.envelope import CloudEvent
from schemas.services import SERVICES
from schemas.topics import TYPE_TOPIC

log = logging.getLogger(__name__)

WebHandler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Reply:
    """An HTTP answer other than a plain 200 JSON body."""

    status: int
    body: Any = None  # JSON-able, or str for text/html
    content_type: str = "application/json"
    headers: dict[str, str] | None = None


def _view_for(path: str, handlers: dict[str, WebHandler]) -> type[View]:
    """A faust View whose methods dispatch to the handlers registered for `path`."""

    async def dispatch(view: View, method: str, request: Any, params: dict[str, Any]) -> Any:
        handler = handlers.get(method)
        if handler is None:
            return view.error(405, f"{method.upper()} not allowed on {path}")
        reply = await handler(request, **params)
        if not isinstance(reply, Reply):
            return view.json(reply)
        if isinstance(reply.body, str):
            return view.text(
                reply.body,
                content_type=reply.content_type,
                status=reply.status,
                headers=reply.headers,
            )
        return view.json(reply.body, status=reply.status, headers=reply.headers)

    def method(name: str) -> Callable[..., Awaitable[Any]]:
        async def call(self: View, request: Any, **params: Any) -> Any:
            return await dispatch(self, name, request, params)

        return call

    return type(
        f"View{abs(hash(path))}", (View,), {m: method(m) for m in ("get", "post", "put", "delete")}
    )


class Shell:
    """One service's faust app, its web routes and its OpenAPI document."""

    def __init__(self, settings: Settings, **app_options: Any) -> None:
        self.settings = settings
        self.policy = load_profile(settings.policy)
        (settings.data_dir / settings.app_id).mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.bootstrap}",
            store="memory://",
            web_host=settings.web_host,
            web_bind=settings.web_host,  # faust listens on 0.0.0.0 unless told otherwise
            web_port=settings.web_port,
            datadir=str(settings.data_dir / settings.app_id),
            producer_acks=-1,
            producer_max_request_size=MAX_MESSAGE_BYTES,
            topic_replication_factor=settings.replication_factor,
            **app_options,
        )
        self.ticks: Any = None  # per state partition, the day of its latest tick (on_tick)
        self._routes: dict[str, dict[str, WebHandler]] = {}
        self.api = ApiDocument(f"VBP Monitor {settings.service} service")
        self.route("/health")(self._health)
        self.route("/openapi.json", summary="This document: the service's OpenAPI 3.1")(
            self.api.serve)

    def route(
        self, path: str, method: str = "GET", **doc: Any
    ) -> Callable[[WebHandler], WebHandler]:
        """Serve `handler(request, **path_params)` on the service's web server (faust's aiohttp).

        The handler returns a `Reply`, or any JSON-able value for a 200. `request` is faust's
        (aiohttp) request: `request.headers`, `request.query`, `await request.read()`.
        `doc` describes the route in the service's OpenAPI document: `summary` (default: the
        handler's docstring), `body`, `auth`, `query`, `responses`, `content_type` (the fields
        of runtime/openapi.py's `Operation`).
        """

        def register(handler: WebHandler) -> WebHandler:
            handlers = self._routes.get(path)
            if handlers is None:
                handlers = self._routes[path] = {}
                self.app.page(path)(_view_for(path, handlers))
            handlers[method.lower()] = handler
            self.api.add(path, method, handler, **doc)
            return handler

        return register

    @property
    def as_of(self) -> date | None:
        """The latest tick this worker applied (None: none yet, or no on_tick handler): the
        read APIs' "today"."""
        if self.ticks is None:
            return None
        return max((date.fromisoformat(day) for day in self.ticks.values()), default=None)

    def tick_of(self, partition: int) -> date | None:
        """The latest tick state partition `partition` has applied, its rules evaluated (None:
        none, or a partition this worker does not hold)."""
        day = self.ticks.get(str(partition)) if self.ticks is not None else None
        return date.fromisoformat(day) if day else None

    async def _health(self, request: Any) -> Any:
        return self.health()

    def health(self) -> Any:
        raise NotImplementedError

    def about(self) -> dict[str, Any]:
        """What every /health names: the service, its group, its profile and its "today"."""
        return {"service": self.settings.service, "app_id": self.settings.app_id,
                "policy": self.settings.policy,
                "as_of": self.as_of.isoformat() if self.as_of else None}


class LoopService(Shell):
    """A stream processor on the processing core, with the declarations the services use:
    `table`, `consume` (topics keyed like the state), `consume_shared` (every partition of
    topics keyed otherwise, each event in every task or in the task its route names),
    `on_reference` (the 1-partition reference topics, in every task), `on_tick` (each clock tick
    in every task) and `emit`."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.app.producer_only = True  # the shell's: no consumer group, no agents
        self.processor = Processor(
            bootstrap=settings.bootstrap, app_id=settings.app_id,
            topic_prefix=settings.topic_prefix, region_code=self.policy.region_code,
            service=settings.service, worker=settings.worker,
            dedupe_days=self.policy.dedupe_window_days.value,
            replication=settings.replication_factor)
        # what schemas/services.py says it reads and writes (None: the bench's own services)
        streams = SERVICES.get(settings.service)
        self._allowed = streams and {"consumes": frozenset(streams.consumes),
                                     "emits": frozenset(streams.emits)}
        self._stopped = asyncio.Event()
        self.app.task(self._process)
        self.app.on_before_shutdown.connect(self._stop)
        self.app.timer(STALL_SECONDS)(self._report_stalls)

    async def _process(self) -> None:
        try:
            await self.processor.run()
        except Exception as error:  # the worker cannot go on without its stream
            log.exception("the processing loop stopped")
            await self.app.crash(error)
        finally:
            self._stopped.set()

    async def _report_stalls(self) -> None:
        """The stall report: silent while everything flows."""
        for stall in self.processor.stalls():
            log.warning("stalled: %s", stall)

    async def _stop(self, app: Any, **kwargs: Any) -> None:
        """SIGTERM: the batches in hand are committed before the worker exits."""
        await self.processor.stop()
        await self._stopped.wait()

    # -- declaring ------------------------------------------------------------------------------

    def one_task(self) -> None:
        """All of the service's state in one task, for rules that read across every key
        (supply's product-wide demand and stock, alliance's province-wide summaries). Its inputs
        keyed otherwise are read whole (`consume_shared`) and the clock through the consumer
        group, so one worker at a time runs the task and the group's others stand by. Call it
        before declaring anything."""
        if self.processor.inputs or self.ticks is not None:
            raise RuntimeError("one_task() must come before the inputs are declared")
        self.processor.partitions = 1

    def table(self, name: str) -> Table:
        return self.processor.table(name)

    def input_time(self) -> int:
        return self.processor.input_time()

    def on_recover(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        """`callback()` whenever the tables may have changed other than by the handlers (tasks
        restored or dropped, a handler's try undone): rebuild what is derived from them."""
        self.processor.on_recover(callback)

    def _declared(self, declared: str, *bases: str) -> None:
        """A topic the service's entry in schemas/services.py does not list is refused."""
        if not self._allowed:
            return
        undeclared = [b for b in bases if b not in self._allowed[declared]]
        if undeclared:
            raise ValueError(f"{self.settings.service} {declared} {undeclared}: not in its "
                             "entry in schemas/services.py")

    def consume(self, *bases: str) -> Callable[[Handler], Handler]:
        self._declared("consumes", *bases)
        return self.processor.consume(*bases)

    def consume_shared(self, *bases: str, route: Callable[[CloudEvent], str | None] | None = None
                       ) -> Callable[[SharedHandler], SharedHandler]:
        self._declared("consumes", *bases)
        return self.processor.consume_shared(*bases, route=route)

    def on_reference(self, *bases: str) -> Callable[[SharedHandler], SharedHandler]:
        """`handler(event, partition)` in every task: each keeps its copy of reference data."""
        self._declared("consumes", *bases)
        return self.processor.consume_shared(*bases)

    def on_tick(self, handler: SharedHandler) -> SharedHandler:
        """`handler(tick, partition)` in every task, after the inputs stamped before the tick.
        A tick of a day before the task's latest is not handled: time does not go back. This is
        the tick's business key: event ids are remembered only for the profile's dedupe window,
        and a clock replayed from further back would otherwise evaluate old days again (seen:
        quota resumed every suspension on a replayed February tick)."""
        self._declared("consumes", "vbp.clock")
        self.ticks = self.table("ticks")

        async def tick(event: CloudEvent, partition: int = 0) -> None:
            as_of = event.data.as_of.isoformat()
            assert self.ticks is not None
            latest = self.ticks.get(str(partition)) or ""
            if as_of < latest:
                log.info("tick %s not handled in task %s: it has applied %s", as_of, partition,
                         latest)
                return
            await handler(event, partition)
            if as_of > latest:
                self.ticks[str(partition)] = as_of

        if self.processor.partitions == 1:  # one task: the clock's one partition is its
            self.processor.consume("vbp.clock")(tick)
        else:
            self.processor.consume_shared("vbp.clock")(tick)
        return handler

    async def emit(self, data: EventData, *, id: str, subject: str, time: datetime,
                   key: str | None = None, coalesce: str | None = None) -> None:
        self._declared("emits", TYPE_TOPIC[data.TYPE])
        await self.processor.emit(data, id=id, subject=subject, time=time, key=key,
                                  coalesce=coalesce)

    def emit_event(self, base: str, event: CloudEvent, key: str) -> None:
        self._declared("emits", base)
        self.processor.emit_event(base, event, key)

    # -- the service's own topics (alerts' ledger and silences) --------------------------------

    def internal(self, name: str) -> str:
        """The full name of the service's own topic `name`."""
        return self.processor.internal(name)

    def consume_internal(self, name: str, partitions: int
                         ) -> Callable[[Callable[..., Awaitable[None]]], Any]:
        return self.processor.consume_internal(name, partitions)

    def emit_internal(self, name: str, key: str, op: dict[str, Any]) -> None:
        self.processor.emit_internal(name, key, op)

    def caught_up(self) -> set[int]:
        """The tasks here that have handled their inputs to the end since they started."""
        return self.processor.caught_up()

    def health(self) -> Reply:
        """503 while a task stops at an event it failed on, naming the event and the error."""
        core = self.processor.health()
        body = {
            "status": core["status"],
            **self.about(),
            "processing_guarantee": "exactly_once",
            "counts": {k: core[k] for k in ("processed", "duplicates", "deadlettered")},
            "inputs": self.processor.group_topics(),
            "holding": sorted(f"{topic}[{partition}]" for partition in core["tasks"]
                              for topic in self.processor.group_topics()),
            "ready": not core["starting"],
            "shared_behind": core["shared_behind"],
            "tasks": {k: core[k] for k in ("tasks", "starting", "failed", "commits", "aborted")},
            "stalls": core["stalls"],
        }
        return Reply(503 if core["failed"] else 200, body)
