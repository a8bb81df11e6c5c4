"""Jurisdiction policy profiles.

``load_profile("guizhou")`` reads ``policies/guizhou.toml``; ``load_profile("/path/x.toml")``
reads that file.  Either way the result is a validated, immutable
:class:`schemas.policy.PolicyProfile`; anything wrong (unknown key, impossible value, a ref
into another seed, bad TOML, missing file) raises :class:`PolicyError` naming the file and
the offending key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.policy import PolicyProfile

__all__ = ["PROFILE_NAMES", "POLICY_DIR", "PolicyError", "load_profile", "profile_path"]

POLICY_DIR = Path(__file__).resolve().parent
PROFILE_NAMES: tuple[str, ...] = ("guizhou", "chongqing", "yunnan", "xian", "shanxi")


class PolicyError(ValueError):
    """A policy profile could not be loaded.

    ``path`` is the file, ``key`` the dotted key of the first problem (``None`` when the
    problem is not tied to one key), ``problems`` every (key, message) pair.
    """

    def __init__(self, path: Path | str, problems: list[tuple[str | None, str]]):
        self.path = Path(path)
        self.problems = problems
        self.key = problems[0][0] if problems else None
        lines = [f"{k}: {m}" if k else m for k, m in problems]
        if len(lines) == 1:
            text = f"{self.path}: {lines[0]}"
        else:
            text = f"{self.path}: {len(lines)} problems:\n" + "\n".join(f"  {l}" for l in lines)
        super().__init__(text)


def profile_path(name_or_path: str | Path) -> Path:
    """Resolve a profile name (``guizhou``) or a file path to the TOML file to read."""
    s = str(name_or_path)
    if s in PROFILE_NAMES:
        return POLICY_DIR / f"{s}.toml"
    p = Path(s).expanduser()
    if p.suffix == ".toml" or p.exists() or "/" in s or "\\" in s:
        return p
    raise PolicyError(
        s, [(None, f"unknown policy profile {s!r}; expected one of {', '.join(PROFILE_NAMES)} or a path to a .toml file")]
    )


def _key(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ".".join(parts) if parts else None


def _input_repr(err: dict[str, Any]) -> str:
    if err.get("type") in ("extra_forbidden",) or "input" not in err:
        return ""
    value = err["input"]
    if isinstance(value, (dict, list)):
        return ""
    return f" (got {value!r})"


def load_profile(name_or_path: str | Path) -> PolicyProfile:
    """Load and validate a policy profile by name or path."""
    path = profile_path(name_or_path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise PolicyError(path, [(None, "file not found")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(path, [(None, f"not valid TOML: {exc}")]) from None
    try:
        profile = PolicyProfile.model_validate(raw)
    except ValidationError as exc:
        problems: list[tuple[str | None, str]] = []
        for err in exc.errors(include_url=False):
            key = _key(tuple(err["loc"]))
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (not part of the policy schema)"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            problems.append((key, msg + _input_repr(err)))
        raise PolicyError(path, problems) from None
    if str(name_or_path) in PROFILE_NAMES and profile.name != str(name_or_path):
        raise PolicyError(path, [("name", f"file declares {profile.name!r}, expected {str(name_or_path)!r}")])
    return profile
