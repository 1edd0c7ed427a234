"""``pps release``: create and list releases."""

from __future__ import annotations

from pathlib import Path

import click

from distributor.cli import (
    PPSGroup,
    State,
    TestOption,
    cli,
    emit_json,
    pass_state,
    table,
)
from pps.classes import ReleaseType, UpdateClass
from pps.manifest import LocalTest


@cli.group(cls=PPSGroup)
def release() -> None:
    """Create and list releases in the repository."""


@release.command("create")
@click.argument("component")
@click.argument("version")
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path),
    help="The directory tree to pack. A pps-tests.toml in it lists the local tests.",
)
@click.option(
    "--class",
    "update_class",
    required=True,
    type=click.Choice(UpdateClass.values()),
    help="The update class: it decides which sites get the release.",
)
@click.option(
    "--type",
    "release_type",
    required=True,
    type=click.Choice(ReleaseType.values()),
    help="The EGI release type: it sets the staged-rollout timeline.",
)
@click.option(
    "--test",
    "tests",
    multiple=True,
    type=TestOption(),
    help="A local test run at each site in the preview environment (repeatable).",
)
@click.option("--setup", help="A script in the tree that the preview environment sources.")
@click.option("--notes-url", default="", help="Where the release notes are.")
@click.option("--feedback-url", default="", help="Where users give feedback on this preview.")
@click.option("--embargo", is_flag=True, help="Keep the release out of every public output.")
@click.option("--json", "as_json", is_flag=True, help="Print the release record as JSON.")
@pass_state
def release_create(
    state: State,
    component: str,
    version: str,
    source: Path,
    update_class: str,
    release_type: str,
    tests: tuple[LocalTest, ...],
    setup: str | None,
    notes_url: str,
    feedback_url: str,
    embargo: bool,
    as_json: bool,
) -> None:
    """Build COMPONENT VERSION from a directory into the repository's unverified stage.

    The tarball is reproducible: the same tree gives the same sha256.  An existing release is
    never overwritten.

    \b
    Example:
      pps release create glite-UI 3.2.8-0 --from ./ui --class bc-client --type revision
    """
    from distributor.releases import create_release

    rel = create_release(
        state.repo,
        component,
        version,
        source=source,
        update_class=update_class,
        release_type=release_type,
        tests=tests,
        setup=setup,
        notes_url=notes_url,
        feedback_url=feedback_url,
        embargo=embargo,
        signing_key=state.config.signing_key,
    )
    if as_json:
        emit_json(rel.to_dict())
    else:
        click.echo(
            f"created {rel.component} {rel.version} ({rel.update_class.value}, "
            f"{rel.release_type.value}) in {rel.stage}: {rel.tarball} sha256 {rel.sha256}"
        )


@release.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the index entries as JSON.")
@pass_state
def release_list(state: State, as_json: bool) -> None:
    """List the releases in the repository."""
    releases = sorted(state.repo.load().releases, key=lambda r: (r.component, r.version))
    if as_json:
        emit_json([r.to_dict() for r in releases])
        return
    if not releases:
        click.echo(f"no releases in {state.config.repository}")
        return
    rows = [(r.component, r.version, r.stage, r.update_class.value, r.release_type.value)
            for r in releases]  # fmt: skip
    table(("COMPONENT", "VERSION", "STAGE", "CLASS", "TYPE"), rows)
