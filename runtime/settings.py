"""Settings from the environment, the same for every service (contract: HTTP)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schemas.topics import topic_name

REPO_ROOT = Path(__file__).resolve().parent.parent

# One web port per service, so all of them run side by side on one machine.
DEFAULT_WEB_PORTS = {
    "quota": 8101,
    "supply": 8102,
    "settlement": 8103,
    "alerts": 8104,
    "alliance": 8105,
}


@dataclass(frozen=True)
class Settings:
    service: str
    bootstrap: str
    policy: str
    topic_prefix: str
    web_host: str
    web_port: int
    data_dir: Path
    app_id: str
    replication_factor: int
    worker: str

    @classmethod
    def from_env(cls, service: str) -> Settings:
        env = os.environ
        port_var = f"VBP_{service.upper()}_WEB_PORT"
        return cls(
            service=service,
            bootstrap=env.get("VBP_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            policy=env.get("VBP_POLICY", "guizhou"),
            topic_prefix=env.get("VBP_TOPIC_PREFIX", ""),
            web_host=env.get("VBP_WEB_HOST", "127.0.0.1"),
            web_port=int(
                env.get(port_var) or env.get("VBP_WEB_PORT") or DEFAULT_WEB_PORTS[service]
            ),
            data_dir=Path(env.get("VBP_DATA_DIR", REPO_ROOT / ".cache" / "state")),
            # exactly_once hangs on SIGTERM here (README, "Processing guarantee"); effects are
            # made idempotent instead: records keyed by event ids, deterministic output ids.
            # Faust app id = consumer group and changelog names; a new id replays from offset 0.
            app_id=env.get("VBP_APP_ID") or f"{env.get('VBP_TOPIC_PREFIX', '')}vbp-{service}",
            replication_factor=int(env.get("VBP_REPLICATION_FACTOR", "1")),
            # Static group membership (KIP-345): a restarted worker takes its predecessor's
            # place at once; give each further worker of a service its own VBP_WORKER_ID.
            worker=env.get("VBP_WORKER_ID", "1"),
        )

    def topic(self, base: str) -> str:
        """The deployed name of a contract topic: VBP_TOPIC_PREFIX + name."""
        return topic_name(base, self.topic_prefix)
