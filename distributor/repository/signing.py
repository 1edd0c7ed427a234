"""Signing the repository's index: the Ed25519 key pair and the detached signature.

The release manager keeps one private key (``pps repo keygen``; ``[repository] signing_key`` in
``pps.toml``); every site pins the public key (``public_key = "ed25519:..."`` in its site file).
Whenever pps writes ``index.json`` it writes ``index.json.sig`` beside it: the base64 of the
64-byte Ed25519 signature over the index's exact bytes.  A push signs the one-release index it
uploads the same way.  The index carries a ``serial`` that grows at every write (see
:meth:`pps.repository.Repository.save`), so a site refuses an older index replayed at it.
Only this module imports ``cryptography`` on the operator's side.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from pps.errors import AlreadyExists, BadInput
from pps.fsutil import atomic_write
from pps.repository import SIGNATURE_NAME, Index, Repository

PUBLIC_KEY_PREFIX = "ed25519:"


def generate_key(path: Path) -> str:
    """Write a new private key to *path* (mode 0600, never over an existing file); the public
    key line for site files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise AlreadyExists(f"{path} exists: not overwriting a signing key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return public_key_line(key)


def load_key(path: Path) -> Any:
    """The private key in *path* (BadInput naming the file if it is not an Ed25519 key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as e:
        raise BadInput(f"cannot read the signing key {path}: {e.strerror or e}") from None
    except (ValueError, TypeError) as e:
        raise BadInput(f"{path} is not a PEM private key without passphrase: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"{path} is not an Ed25519 key")
    return key


def public_key_line(key: Any) -> str:
    """``ed25519:<base64 of the 32 raw bytes>``: what a site file's ``public_key`` holds."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def signature(key: Any, data: bytes) -> bytes:
    """The content of a ``.sig`` file for *data*."""
    return base64.b64encode(key.sign(data)) + b"\n"


def init_repository(repo: Repository, signing_key: Path | None) -> bytes:
    """Make *repo* a repository: its directory and an empty index (signed with *signing_key*).
    An existing repository is left alone (AlreadyExists)."""
    if repo.index_path.exists():
        raise AlreadyExists(f"{repo.root} is a repository already: nothing to do")
    if repo.root.exists() and not repo.root.is_dir():
        raise BadInput(f"{repo.root} is a file, not a directory")
    key = load_key(signing_key) if signing_key is not None else None
    repo.root.mkdir(parents=True, exist_ok=True)
    with repo.locked():
        data = repo.save(Index())
        if key is not None:
            sign_index(repo, key, data)
    return data


def sign_index(repo: Repository, key: Any, data: bytes | None = None) -> Path:
    """Write ``index.json.sig`` for the repository's index (*data*: the bytes just written)."""
    if data is None:
        try:
            data = repo.index_path.read_bytes()
        except FileNotFoundError:
            raise BadInput(f"{repo.index_path} does not exist: nothing to sign") from None
    path = repo.root / SIGNATURE_NAME
    atomic_write(path, signature(key, data))
    return path
