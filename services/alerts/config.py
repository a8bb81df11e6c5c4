"""The routing file (TOML, path in VBP_ALERTS_ROUTES): receivers, the route tree, delivery policy.

Validated by pydantic and cross-checked (every receiver a route names exists, every label is one
the alerts carry); anything wrong raises `ConfigError` with the reasons. `RoutesFile` re-reads the
file when it changes and keeps the last good version in force when the new one is refused.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

log = logging.getLogger(__name__)

# Labels every alert carries (services.alerts.alert.labels); matchers and group_by use them.
LABELS = frozenset({
    "kind", "rule", "action", "severity", "level", "subject_kind", "subject_id", "region",
    "province", "city", "county", "period", "institution_id", "product_code",
})
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)\s*$")


class ConfigError(ValueError):
    """The routing file was refused; str() says why."""


def parse_duration(value: Any) -> float:
    """Seconds from `"500ms"`, `"30s"`, `"5m"`, `"4h"`, `"1d"` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '30s' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (found := _DURATION.match(value)):
        seconds = float(found.group(1)) * _UNITS[found.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration like '500ms', '30s', '5m', '4h' or '1d'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]


def region_prefix(code: str) -> str:
    """`520100` -> `5201`: a region matcher is a prefix of the 6-digit code, trailing 00s cut."""
    if not re.fullmatch(r"[0-9]{2,6}", code):
        raise ValueError(f"region {code!r} is not 2-6 digits of a GB/T 2260 code")
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


class Matchers(BaseModel):
    """Label -> accepted values (any of); shell-style wildcards (`quota.*`); `region` matches
    by prefix (`5201` or `520100`: every county of Guiyang)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    values: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_table(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and set(raw) != {"values"}:
            raw = {"values": raw}
        return raw

    @field_validator("values", mode="before")
    @classmethod
    def _check(cls, raw: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(raw, dict):
            raise ValueError("matchers are a table of label = value or [values]")
        out: dict[str, tuple[str, ...]] = {}
        for label, value in raw.items():
            if label not in LABELS:
                raise ValueError(f"unknown label {label!r}; labels are {', '.join(sorted(LABELS))}")
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list | tuple) or not values or not all(
                    isinstance(v, str) and v for v in values):
                raise ValueError(f"{label}: a non-empty string or list of strings")
            if label == "region":
                values = [region_prefix(v) for v in values]
            out[label] = tuple(values)
        return out

    def matches(self, labels: dict[str, str | None]) -> bool:
        from fnmatch import fnmatchcase

        for label, accepted in self.values.items():
            value = labels.get(label)
            if value is None:
                return False
            if label == "region":
                if not any(value.startswith(prefix) for prefix in accepted):
                    return False
            elif not any(fnmatchcase(value, pattern) for pattern in accepted):
                return False
        return True


class Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Name
    kind: Literal["webhook", "wecom", "dingtalk"]
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
    title: str | None = Field(default=None, description="Who this is, e.g. 贵州省卫生健康委员会")
    secret: str | None = None
    secret_env: str | None = Field(default=None, description="Read the secret from this variable.")
    msgtype: Literal["markdown", "text"] = "markdown"
    timeout: Duration = 5.0

    @model_validator(mode="after")
    def _secret(self) -> Receiver:
        if self.secret_env:
            secret = os.environ.get(self.secret_env)
            if not secret:
                raise ValueError(f"secret_env {self.secret_env} is not set")
            object.__setattr__(self, "secret", secret)
        if self.kind == "webhook" and not self.secret:
            raise ValueError("a webhook receiver signs its requests: give it a secret")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        return self


class Escalation(BaseModel):
    """Unacknowledged after `ack_within`: the alert goes to chain[0]; after as long again,
    to chain[1]; and so on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ack_within: Duration
    chain: list[Name] = Field(min_length=1)


class Route(BaseModel):
    """A node of the tree. Unset receivers and group settings are inherited from the parent."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    name: Name | None = None
    match: Matchers = Field(default_factory=Matchers)
    receivers: list[Name] = Field(default_factory=list)
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(default=False, alias="continue")
    escalation: Escalation | None = None
    routes: list[Route] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        for label in value or []:
            if label not in LABELS:
                raise ValueError(f"unknown label {label!r} in group_by")
        return value


class Delivery(BaseModel):
    """Retries (exponential backoff with jitter) and the circuit breaker, for every receiver."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_attempts: int = Field(default=12, ge=1, le=1000)
    backoff_initial: Duration = 2.0
    backoff_max: Duration = 300.0
    jitter: float = Field(default=0.2, ge=0, le=1)
    give_up_after: Duration = 86400.0
    circuit_failures: int = Field(default=5, ge=1)
    circuit_open: Duration = 60.0


class Inhibit(BaseModel):
    """An alert matching `source` (a decision) silences the warnings in its caused_by."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: Matchers


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    receivers: list[Receiver] = Field(min_length=1)
    route: Route
    delivery: Delivery = Field(default_factory=Delivery)
    inhibit: list[Inhibit] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [r.name for r in self.receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"receiver names must be unique: {', '.join(duplicates)}")
        if not self.route.receivers:
            raise ValueError("route: the root route needs receivers (it takes what no child does)")
        known = set(names)

        def check(route: Route, where: str) -> None:
            named = route.receivers + (route.escalation.chain if route.escalation else [])
            for name in named:
                if name not in known:
                    raise ValueError(f"{where}: unknown receiver {name!r}")
            for i, child in enumerate(route.routes):
                check(child, f"{where}.routes[{i}]")

        check(self.route, "route")
        return self

    def receiver(self, name: str) -> Receiver | None:
        return next((r for r in self.receivers if r.name == name), None)


def parse(text: str, source: str = "<routes>") -> Config:
    """Validate routing TOML; ConfigError lists every problem with its place in the file."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as error:
        problems = []
        for item in error.errors(include_url=False):
            where = ".".join(str(p) for p in item["loc"] if p != "values")
            message = item["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise ConfigError(f"{source}: " + "; ".join(problems)) from None


class RoutesFile:
    """The routing file in force, re-read whenever its mtime, size or inode changes."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.config: Config | None = None
        self.digest: str | None = None
        self.loaded_at: float | None = None
        self.error: str | None = None
        self._stat: tuple[int, int, int] | None = None
        self.refresh()

    def refresh(self) -> bool:
        """Reload if the file changed; True when a new version came into force."""
        if self.path is None:
            return False
        try:
            stat = self.path.stat()
        except OSError as error:
            self._stat = None
            self.error = f"{self.path}: {error.strerror or error}"
            return False
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._stat:
            return False
        self._stat = signature
        text = self.path.read_bytes()
        digest = hashlib.sha256(text).hexdigest()[:16]
        if digest == self.digest:
            self.error = None
            return False
        try:
            config = parse(text.decode("utf-8"), str(self.path))
        except (ConfigError, UnicodeDecodeError) as error:
            self.error = str(error)
            log.error("routes refused, %s stays in force: %s", self.digest, self.error)
            return False
        self.config, self.digest, self.loaded_at, self.error = config, digest, time.time(), None
        log.info("routes %s in force from %s", digest, self.path)
        return True

    def status(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None, "digest": self.digest,
            "loaded_at": self.loaded_at, "error": self.error,
            "receivers": [r.name for r in self.config.receivers] if self.config else [],
        }
