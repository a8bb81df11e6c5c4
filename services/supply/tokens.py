"""Manufacturers' bearer tokens for the supply intake: stored only as SHA-256 hashes.

The store is one JSON file (``VBP_SUPPLY_TOKENS``, default ``<VBP_DATA_DIR>/supply-tokens.json``)::

    {"M11000000328": [{"sha256": "...", "created": "2020-03-01T08:00:00+00:00", "revoked": null}]}

The intake re-reads it whenever the file changes (inode, mtime or size), so issuing, rotating
and revoking take effect without a restart. Tokens are 256-bit random strings: a hash lookup is
enough (no salt or slow hash needed for secrets nobody can guess), and the plain token is shown
once, when issued, and never stored.

    python -m services.supply.tokens issue M11000000328      # prints "M11000000328 <token>"
    python -m services.supply.tokens rotate M11000000328     # new token, older ones revoked
    python -m services.supply.tokens revoke M11000000328 [--hash PREFIX]
    python -m services.supply.tokens list [M...]
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANUFACTURER = re.compile(r"^M[0-9]{11}$")
TOKEN_PREFIX = "vbps_"

Entries = dict[str, list[dict[str, Any]]]


def default_path() -> Path:
    if os.environ.get("VBP_SUPPLY_TOKENS"):
        return Path(os.environ["VBP_SUPPLY_TOKENS"])
    from runtime.settings import Settings

    return Settings.from_env("supply").data_dir / "supply-tokens.json"


def digest(token: str) -> str:
    # A header's bytes that are not UTF-8 reach the intake as surrogates (aiohttp).
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class TokenStore:
    """Read side, used by the intake: token -> manufacturer, reloaded when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._owners: dict[str, str] = {}

    def manufacturer_of(self, token: str) -> str | None:
        """The manufacturer a live token belongs to; None for unknown or revoked tokens."""
        self._reload_if_changed()
        return self._owners.get(digest(token))

    def _reload_if_changed(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._owners = None, {}
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        entries = read(self.path)
        self._owners = {e["sha256"]: m for m, listed in entries.items() for e in listed
                        if not e.get("revoked")}
        self._stamp = stamp


def read(path: Path) -> Entries:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return json.loads(text) if text.strip() else {}


@contextlib.contextmanager
def editing(path: Path) -> Iterator[Entries]:
    """Read-modify-write under an exclusive lock; the new file replaces the old atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entries = read(path)
        yield entries
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(entries, out, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def issue(path: Path, manufacturer_id: str, *, revoke_others: bool = False) -> str:
    """Create a token for `manufacturer_id`, store its hash, return the token (shown once)."""
    _check(manufacturer_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with editing(path) as entries:
        listed = entries.setdefault(manufacturer_id, [])
        if revoke_others:
            for entry in listed:
                entry["revoked"] = entry.get("revoked") or _now()
        listed.append({"sha256": digest(token), "created": _now(), "revoked": None})
    return token


def revoke(path: Path, manufacturer_id: str, hash_prefix: str = "") -> int:
    """Revoke the manufacturer's live tokens (those whose hash starts with `hash_prefix`)."""
    _check(manufacturer_id)
    count = 0
    with editing(path) as entries:
        for entry in entries.get(manufacturer_id, []):
            if not entry.get("revoked") and entry["sha256"].startswith(hash_prefix):
                entry["revoked"] = _now()
                count += 1
    return count


def _check(manufacturer_id: str) -> None:
    if not MANUFACTURER.match(manufacturer_id):
        raise ValueError(f"{manufacturer_id!r} is not a manufacturer id (M + 11 digits)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.supply.tokens",
                                     description="Manage manufacturers' supply-intake tokens.")
    parser.add_argument("--file", type=Path, help="token file (default: $VBP_SUPPLY_TOKENS)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("issue", "issue a new token (older ones stay valid)"),
                       ("rotate", "issue a new token and revoke the older ones"),
                       ("revoke", "revoke live tokens"), ("list", "list token hashes")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("manufacturers", nargs="*" if name == "list" else "+", metavar="M")
        if name == "revoke":
            cmd.add_argument("--hash", default="", help="only tokens whose sha256 starts so")
    args = parser.parse_args(argv)
    path = args.file or default_path()
    try:
        if args.command in ("issue", "rotate"):
            for m in args.manufacturers:
                print(m, issue(path, m, revoke_others=args.command == "rotate"))
        elif args.command == "revoke":
            for m in args.manufacturers:
                print(m, "revoked", revoke(path, m, args.hash))
        else:
            for m, listed in sorted(read(path).items()):
                if args.manufacturers and m not in args.manufacturers:
                    continue
                for e in listed:
                    state = f"revoked {e['revoked']}" if e.get("revoked") else "live"
                    print(m, e["sha256"][:16], e["created"], state)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
