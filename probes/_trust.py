"""Trusting the repository's index: its Ed25519 signature and its serial.

A site whose file names the repository's ``public_key`` accepts an index only with a valid
detached signature (``index.json.sig``: the base64 of the 64-byte Ed25519 signature over the
exact bytes of ``index.json``) and a ``serial`` no lower than the highest it accepted before (an
older, validly signed index replayed by a compromised mirror is a rollback).  The sha256 chain
index -> tarball -> manifest covers everything else, as apt's signed Release file does.

What the site last accepted is kept in ``<preview_root>/.pps/trust.json``: the key, the highest
serial, and the sha256 of the last few verified indexes, so that an index seen before is not
verified again: the steady state never loads the ``cryptography`` library.
"""

from __future__ import annotations

import json
from pathlib import Path

from pps.errors import PPSError
from pps.fsutil import atomic_write

FORMAT = "pps-trust/1"
#: How many verified index checksums are remembered.
REMEMBERED = 8


class TrustError(PPSError):
    """The index is unsigned, badly signed or older than one already accepted."""


def _verify(public_key: bytes, signature: bytes, data: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise TrustError(
            "the site file pins a public_key but the Python 'cryptography' library is missing: "
            "install it (Debian: python3-cryptography) to check the index signature"
        ) from None
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except InvalidSignature:
        return False
    return True


def decode_signature(text: bytes, where: str) -> bytes:
    import base64

    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 64:
        raise TrustError(f"{where} is not an Ed25519 signature")
    return raw


def _sha256(data: bytes) -> str:
    """sha256 from CPython's own module where it has one: hashlib would load OpenSSL (some 5 ms
    of every steady-state run at a site that pins a key)."""
    try:
        from _sha2 import sha256  # CPython >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256  # CPython < 3.12
        except ImportError:
            from hashlib import sha256
    return str(sha256(data).hexdigest())


class TrustStore:
    """What this site accepted before, for one pinned key."""

    def __init__(self, path: Path, public_key: str) -> None:
        self.path = path
        self.public_key = public_key
        self.serial = 0
        self.verified: list[str] = []
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and data.get("public_key") == public_key:
            serial = data.get("serial")
            self.serial = serial if isinstance(serial, int) and serial >= 0 else 0
            verified = data.get("verified")
            if isinstance(verified, list):
                self.verified = [v for v in verified if isinstance(v, str)][-REMEMBERED:]

    def check_signature(self, key_bytes: bytes, index: bytes, signature: bytes, where: str) -> None:
        """Accept the exact bytes *index* if *signature* is valid for them (TrustError if not)."""
        digest = _sha256(index + b"\0" + signature)
        if digest in self.verified:
            return
        if not _verify(key_bytes, decode_signature(signature, where), index):
            raise TrustError(
                f"{where} does not match the index: the index was changed or signed with "
                "another key"
            )
        self.verified = (self.verified + [digest])[-REMEMBERED:]

    def check_serial(self, serial: int, where: str) -> None:
        """Refuse an index older than one accepted before; remember the highest serial."""
        if serial < self.serial:
            raise TrustError(
                f"{where} has serial {serial}, lower than {self.serial} accepted before: "
                "refusing an older index (rollback)"
            )
        self.serial = serial

    def save(self) -> None:
        data = {
            "format": FORMAT,
            "public_key": self.public_key,
            "serial": self.serial,
            "verified": self.verified,
        }
        raw = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
        try:
            if self.path.read_bytes() == raw:
                return
        except OSError:
            pass
        atomic_write(self.path, raw)
