"""Ed25519 keys of the exchange: one pair per province, public keys exchanged by configuration.

    python -m services.alliance.keys new --province 520000 --out deploy/alliance/keys
    python -m services.alliance.keys show --province 520000 --key deploy/alliance/keys/520000.key

A private key is a PKCS#8 PEM file (mode 0600); a public key travels as the standard base64 of
its 32 raw bytes (RFC 8032), in a `.pub` file or inline in the partner's configuration. The key
id is `<province>-<first 8 hex digits of sha256(raw public key)>`, so both sides derive it.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyFileError(ValueError):
    """A key file or an encoded key could not be read."""


def key_id(province: str, public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{province}-{hashlib.sha256(raw).hexdigest()[:8]}"


def encode_public(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def decode_public(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise KeyFileError(f"public key is not base64: {error}") from None
    if len(raw) != 32:
        raise KeyFileError(f"public key has {len(raw)} bytes, an Ed25519 key has 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: private key file not found") from None
    except ValueError as error:
        raise KeyFileError(f"{path}: not a PEM private key ({error})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def sign(key: Ed25519PrivateKey, body: bytes) -> str:
    """The X-VBP-Signature value: base64 of the Ed25519 signature over `body`."""
    return base64.b64encode(key.sign(body)).decode("ascii")


def verify(public: Ed25519PublicKey, body: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
        public.verify(raw, body)
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def new_pair(province: str, out: Path) -> tuple[Path, Path, str]:
    """Write `<out>/<province>.key` (0600) and `<out>/<province>.pub`; refuse to overwrite."""
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / f"{province}.key", out / f"{province}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"{path} exists; remove it first to make a new pair")
    key = Ed25519PrivateKey.generate()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem(key))
    public_path.write_text(encode_public(key.public_key()) + "\n", encoding="ascii")
    return private_path, public_path, key_id(province, key.public_key())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.alliance.keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="make a key pair for a province")
    new.add_argument("--province", required=True, help="own GB/T 2260 code, e.g. 520000")
    new.add_argument("--out", required=True, type=Path, help="directory for <province>.key/.pub")
    show = commands.add_parser("show", help="print the key id and public key of a private key")
    show.add_argument("--province", required=True)
    show.add_argument("--key", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "new":
            private_path, public_path, kid = new_pair(args.province, args.out)
            print(f"private key: {private_path}\npublic key:  {public_path}\nkey id:      {kid}")
            print(f"public key (base64): {public_path.read_text().strip()}")
        else:
            key = load_private(args.key)
            print(f"key id: {key_id(args.province, key.public_key())}")
            print(f"public key (base64): {encode_public(key.public_key())}")
    except KeyFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
