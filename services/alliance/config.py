"""A deployment's alliance configuration: its own key and province, and its partners.

One TOML file per deployment, named by `VBP_ALLIANCE_CONFIG` (examples: deploy/alliance/).
Relative paths are read from the file's directory. Unknown keys are an error, as in profiles.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.alliance import keys

Category = Literal["progress", "escalations", "availability", "decisions"]
CATEGORIES: tuple[Category, ...] = ("progress", "escalations", "availability", "decisions")

# The event types of each category (docs/alliance-exchange.md, "What is exchanged").
CATEGORY_TYPES: dict[str, Category] = {
    "vbp.quota.monthly_summary": "progress",
    "vbp.shortage.escalated": "escalations",
    "vbp.product.listed": "availability",
    "vbp.decision.issued": "decisions",
}

ProvinceCode = Annotated[str, Field(pattern=r"^[0-9]{6}$")]


class ConfigError(ValueError):
    """The alliance configuration cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartnerConfig(_Strict):
    province: ProvinceCode
    name: str = ""
    inbound_url: str = Field(pattern=r"^https?://")
    public_keys: list[str] = Field(default_factory=list, description="base64 raw Ed25519 keys")
    public_key_files: list[str] = Field(default_factory=list)
    share: list[Category] = Field(default_factory=lambda: list(CATEGORIES))
    accept: list[Category] = Field(default_factory=lambda: list(CATEGORIES))

    @model_validator(mode="after")
    def _some_key(self) -> PartnerConfig:
        if not self.public_keys and not self.public_key_files:
            raise ValueError("a partner needs public_keys or public_key_files")
        return self


class PushConfig(_Strict):
    max_events: int = Field(default=100, ge=1, le=10_000)
    max_bytes: int = Field(default=512 * 1024, ge=1024, description="batch body size limit")
    linger_seconds: float = Field(default=0.5, ge=0, le=60)
    retry_initial_seconds: float = Field(default=0.5, gt=0, le=600)
    retry_max_seconds: float = Field(default=30.0, gt=0, le=3600)
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=600)


class FileConfig(_Strict):
    province: ProvinceCode | None = None
    private_key: str
    timestamp_window_seconds: int = Field(default=300, ge=1, le=86_400)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    push: PushConfig = PushConfig()
    partners: list[PartnerConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct_partners(self) -> FileConfig:
        codes = [p.province for p in self.partners]
        if len(codes) != len(set(codes)):
            raise ValueError("a partner province is listed twice")
        if self.province is not None and self.province in codes:
            raise ValueError("the own province cannot be its own partner")
        return self


@dataclass(frozen=True)
class Partner:
    province: str
    name: str
    inbound_url: str
    public_keys: dict[str, Ed25519PublicKey]  # key id -> key
    share: frozenset[str]
    accept: frozenset[str]


@dataclass(frozen=True)
class AllianceConfig:
    province: str
    private_key: Ed25519PrivateKey | None
    key_id: str
    timestamp_window_seconds: int
    max_body_bytes: int
    push: PushConfig
    partners: dict[str, Partner]

    def shares(self, category: str) -> bool:
        """Whether some partner receives `category` (the publisher writes only those)."""
        return any(category in p.share for p in self.partners.values())

    @classmethod
    def empty(cls, province: str) -> AllianceConfig:
        """No partners: nothing is published, pushed or admitted."""
        return cls(province, None, "", 300, 1024 * 1024, PushConfig(), {})


def load(path: Path, own_province: str) -> AllianceConfig:
    """Read and check `path`; `own_province` is the policy profile's region code."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        parsed = FileConfig.model_validate(raw)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
    if parsed.province is not None and parsed.province != own_province:
        raise ConfigError(f"{path}: province {parsed.province} is not the policy profile's "
                          f"region code {own_province}")
    if own_province in {p.province for p in parsed.partners}:
        raise ConfigError(f"{path}: partners: the own province {own_province} is not a partner")
    base = path.parent
    try:
        private = keys.load_private(base / parsed.private_key)
        partners = {}
        for p in parsed.partners:
            publics = [keys.decode_public(text) for text in p.public_keys]
            publics += [keys.decode_public((base / f).read_text(encoding="ascii"))
                        for f in p.public_key_files]
            partners[p.province] = Partner(
                p.province, p.name or p.province, p.inbound_url,
                {keys.key_id(p.province, k): k for k in publics},
                frozenset(p.share), frozenset(p.accept))
    except (keys.KeyFileError, FileNotFoundError) as error:
        raise ConfigError(f"{path}: {error}") from None
    return AllianceConfig(own_province, private, keys.key_id(own_province, private.public_key()),
                          parsed.timestamp_window_seconds, parsed.max_body_bytes, parsed.push,
                          partners)
