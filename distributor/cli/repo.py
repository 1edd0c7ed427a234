"""``pps repo``: the repository's signing key and index signature."""

from __future__ import annotations

from pathlib import Path

import click

from distributor.cli import (
    BadInputError,
    CliContext,
    PPSGroup,
    cli,
    pass_context,
)
from distributor.repository.signing import (
    generate_key,
    init_repository,
    load_key,
    public_key_line,
    sign_index,
)
from pps.repository import Repository


@cli.group(cls=PPSGroup)
def repo() -> None:
    """The repository's signing key and index signature."""


@repo.command("init")
@pass_context
def repo_init(state: CliContext) -> None:
    """Create the repository [repository] path names: its directory and an empty index.

    Only this command creates a repository, so that a mistyped path never grows one.  With a
    signing key configured the index is signed at once.
    """
    repo = Repository(state.config.repository)
    init_repository(repo, state.config.signing_key)
    click.echo(f"made the repository {repo.root}")


@repo.command("keygen")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the new private key (mode 0600; an existing file is never replaced).",
)  # fmt: skip
def repo_keygen(out: Path) -> None:
    """Make the Ed25519 key pair that signs the repository's index.

    Keep the private key with the release manager and name it in pps.toml
    ([repository] signing_key); every site pins the public key line printed here
    (public_key in its site file) and from then on refuses an unsigned, badly signed or
    older index.

    \b
    Example:
      pps repo keygen --out keys/repo.pem
    """
    line = generate_key(out)
    click.echo(f"wrote {out}; sites pin it with this line in their site file:")
    click.echo(f'public_key = "{line}"')


@repo.command("sign")
@pass_context
def repo_sign(state: CliContext) -> None:
    """Sign the repository's current index.json with [repository] signing_key.

    'pps release create' signs by itself once a key is configured; this is for the first
    signature of an existing repository, or after the key changed.
    """
    if state.config.signing_key is None:
        raise BadInputError(f"{state.config.path}: [repository] has no signing_key to sign with")
    key = load_key(state.config.signing_key)
    path = sign_index(state.repo, key)
    click.echo(f"wrote {path} (serial {state.repo.load().serial}); sites pin:")
    click.echo(f'public_key = "{public_key_line(key)}"')
