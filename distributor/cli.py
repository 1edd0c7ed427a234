"""The ``pps`` command line: thin on purpose.

Each command parses its options, calls library code in :mod:`distributor`, :mod:`bulletin` or
:mod:`jdl_templates`, and prints.  Domain errors become exit codes in one place
(:class:`PPSGroup`): bad input (a name outside the grammar, an unknown release, a wrong config)
is exit 2 with one line naming the value; an operation that failed is exit 1.  Every listing
command takes ``--json`` for scripts.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from pps import __version__
from pps.classes import ReleaseType, UpdateClass
from pps.errors import AlreadyExists, BadInput, ConfigError, NotFound, PPSError
from pps.inventory import Config, load_config
from pps.manifest import LocalTest
from pps.repository import Repository

CONFIG_HELP = "The pps configuration file (site inventory, repository, state)."


class BadInputError(click.ClickException):
    """Bad input: exit 2, one line."""

    exit_code = 2


class PPSGroup(click.Group):
    """Turns pps errors into click errors, for every subcommand, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (BadInput, NotFound, AlreadyExists) as e:
            raise BadInputError(str(e)) from None
        except PPSError as e:
            raise click.ClickException(str(e)) from None


class TestOption(click.ParamType):
    name = "NAME=COMMAND"

    def convert(self, value: Any, param: Any, ctx: Any) -> LocalTest:
        if isinstance(value, LocalTest):
            return value
        try:
            return LocalTest.parse_option(value)
        except BadInput as e:
            self.fail(str(e), param, ctx)


class State:
    """``ctx.obj``: the config, loaded on first use."""

    def __init__(self, config_path: str, explicit: bool = True) -> None:
        self.config_path = Path(config_path)
        #: Whether the user named the file (--config or PPS_CONFIG) rather than the default.
        self.explicit = explicit
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def repo(self) -> Repository:
        return Repository(self.config.repository)

    def store(self) -> Any:
        from distributor.state import StateStore

        assert self.config.state_path is not None
        return StateStore(self.config.state_path)


pass_state = click.make_pass_decorator(State)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group(cls=PPSGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="PPS_CONFIG",
    default="pps.toml",
    show_default=True,
    show_envvar=True,
    help=CONFIG_HELP,
)
@click.version_option(__version__, prog_name="pps")
@click.pass_context
def cli(ctx: click.Context, config_path: str) -> None:
    """Roll preview versions of grid clients out to partner sites.

    A preview is built into the repository ('pps release create'), pushed to the sites its
    update class targets ('pps push'), installed beside production and tested there by the
    site-side probe, and announced as a RunTimeEnvironment tag.  'pps bulletin build' writes
    the live version map; 'pps jdl' prints the JDL that selects a version.  Try 'pps demo'.
    """
    source = ctx.get_parameter_source("config_path")
    ctx.obj = State(config_path, explicit=source is not click.core.ParameterSource.DEFAULT)


# ---------------------------------------------------------------------------------- release
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
    _table(("COMPONENT", "VERSION", "STAGE", "CLASS", "TYPE"), rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        click.echo("  ".join(cells).rstrip())


# ------------------------------------------------------------------------------------- repo
@cli.group(cls=PPSGroup)
def repo() -> None:
    """The repository's signing key and index signature."""


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
    from distributor.signing import generate_key

    line = generate_key(out)
    click.echo(f"wrote {out}; sites pin it with this line in their site file:")
    click.echo(f'public_key = "{line}"')


@repo.command("sign")
@pass_state
def repo_sign(state: State) -> None:
    """Sign the repository's current index.json with [repository] signing_key.

    'pps release create' signs by itself once a key is configured; this is for the first
    signature of an existing repository, or after the key changed.
    """
    from distributor.signing import load_key, public_key_line, sign_index

    if state.config.signing_key is None:
        raise BadInputError(f"{state.config.path}: [repository] has no signing_key to sign with")
    key = load_key(state.config.signing_key)
    path = sign_index(state.repo, key)
    click.echo(f"wrote {path} (serial {state.repo.load().serial}); sites pin:")
    click.echo(f'public_key = "{public_key_line(key)}"')


# ------------------------------------------------------------------------------- nagios
@cli.command("nagios-config")
@click.option("--site", "sites", multiple=True, help="Only this site (repeatable).")
@click.option(
    "--probe", default=None,
    help="Absolute path of the probe at the sites (default: the check_preview_client "
    "installed beside this pps); a .pyz works with --python.",
)  # fmt: skip
@click.option("--python", default="", help="Absolute path of the python3 that runs a .pyz probe.")
@click.option(
    "--probe-timeout", default=50, show_default=True, type=click.IntRange(1, 86400),
    help="Seconds the probe may take; below Nagios's service_check_timeout.",
)  # fmt: skip
@click.option(
    "--nagios-check-timeout", default=60, show_default=True, type=click.IntRange(2, 86400),
    help="The site's service_check_timeout (nagios.cfg): Nagios kills a check after it.",
)  # fmt: skip
@click.option(
    "--interval", default=30, show_default=True, type=click.IntRange(1, 1440),
    help="Minutes between two checks of a preview version.",
)  # fmt: skip
@click.option(
    "--contact-group", default="",
    help="A contact group of the site's Nagios to notify (default: a silent pps-admins group).",
)  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@pass_state
def nagios_config(
    state: State,
    sites: tuple[str, ...],
    probe: str | None,
    python: str,
    probe_timeout: int,
    nagios_check_timeout: int,
    interval: int,
    contact_group: str,
    out: Path | None,
) -> None:
    """Write Nagios objects that run the probe at the sites on schedule.

    A host per site, a service per preview release the site takes, and, when the repository
    has a URL ([repository] url: pull mode), a cleanup service that retires versions that are
    no longer previews.  Without a URL each service re-tests the release's incoming area of the
    last push.  Every command reads the site's own site file (the same one a push uses) and
    names programs by absolute path; 'nagios4 -v' accepts the file alone or beside a site's
    configuration.

    \b
    Example:
      pps nagios-config --site INFN-PISA --out /etc/nagios4/conf.d/pps.cfg
    """
    from distributor.nagios import NagiosOptions, default_probe, nagios_config

    options = NagiosOptions(
        probe=probe or default_probe(), python=python, probe_timeout=probe_timeout,
        interval=interval, contact_group=contact_group, nagios_check_timeout=nagios_check_timeout,
    )  # fmt: skip
    text = nagios_config(state.config, state.repo.load(), sites, options)
    if out:
        from pps.fsutil import atomic_write

        atomic_write(out, text.encode())
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


# ------------------------------------------------------------------------------------- push
@cli.command()
@click.argument("component")
@click.argument("version")
@click.option("--site", "sites", multiple=True, help="Push to this site only (repeatable).")
@click.option(
    "--parallel", default=4, show_default=True, type=click.IntRange(1, 64),
    help="How many sites to work on at once.",
)  # fmt: skip
@click.option(
    "--timeout", default=600.0, show_default=True, type=click.FloatRange(1, 86400),
    help="Seconds the probe may take at one site.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@pass_state
def push(
    state: State,
    component: str,
    version: str,
    sites: tuple[str, ...],
    parallel: int,
    timeout: float,
    as_json: bool,
) -> None:
    """Push COMPONENT VERSION to every site its update class targets, and test it there.

    bc-client goes to every preview site, nbc-client to silver sites, bc-server to gold and
    nbc-server to platinum ones.  At each site the probe verifies the tarball, installs it
    beside production, runs the local tests and publishes (or withdraws) the tag.  Exits 1 if
    any site failed.
    """
    from distributor.push import push_release, target_sites

    rel = state.repo.load().find(component, version)
    targets = target_sites(state.config, rel, sites)
    if not targets:
        raise click.ClickException(
            f"no site in {state.config.path} takes {rel.update_class.value} releases"
        )
    total = len(targets)
    done = 0

    def progress(o: Any) -> None:
        nonlocal done
        done += 1
        click.echo(f"[{done}/{total}] {o.site}: {o.state} ({o.seconds:.1f}s)", err=True)

    click.echo(f"pushing {rel.component} {rel.version} to {total} site(s)", err=True)
    with state.store() as store:
        report = push_release(
            state.repo, rel, targets, store, parallel=parallel, timeout=timeout,
            on_outcome=progress, signing_key=state.config.signing_key,
        )  # fmt: skip
    if as_json:
        emit_json({"release": rel.to_dict(), "outcomes": [asdict(o) for o in report.outcomes]})
    else:
        _table(
            ("SITE", "STATE", "SUMMARY"), [(o.site, o.state, o.summary) for o in report.outcomes]
        )
        ok = total - len(report.failed)
        click.echo(f"{ok}/{total} site(s) without failure")
    if report.failed:
        sys.exit(1)


@cli.command()
@click.argument("component", required=False)
@click.argument("version", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@pass_state
def status(state: State, component: str | None, version: str | None, as_json: bool) -> None:
    """Show the latest outcome at every site, for all releases or one."""
    with state.store() as store:
        outcomes = store.latest(component, version)
    if as_json:
        emit_json([asdict(o) for o in outcomes])
        return
    if not outcomes:
        click.echo("no outcomes recorded yet")
        return
    _table(
        ("COMPONENT", "VERSION", "SITE", "STATE", "AT", "SUMMARY"),
        [(o.component, o.version, o.site, o.state, o.at, o.summary) for o in outcomes],
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the sites as JSON.")
@pass_state
def sites(state: State, as_json: bool) -> None:
    """List the partner sites of the inventory and what they take."""
    rows = []
    for s in state.config.sites:
        takes = [u.value for u in UpdateClass if s.takes(u)]
        rows.append({"name": s.name, "partner": s.partner.value, "transport": s.transport,
                     "vos": list(s.vos), "takes": takes})  # fmt: skip
    if as_json:
        emit_json(rows)
        return
    _table(
        ("SITE", "PARTNER", "TRANSPORT", "VOS", "TAKES"),
        [(r["name"], r["partner"], r["transport"], ",".join(r["vos"]), ",".join(r["takes"]))
         for r in rows],
    )  # fmt: skip


# --------------------------------------------------------------------------------- bulletin
@cli.group(cls=PPSGroup)
def bulletin() -> None:
    """The live version map for VO users."""


@bulletin.command("build")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write index.html, map.json and feed.atom into.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@pass_state
def bulletin_build(state: State, out: Path, as_json: bool) -> None:
    """Write the bulletin from what the sites publish and the repository index."""
    from distributor.infosys import build_bulletin

    paths, errors = build_bulletin(state.config, out)
    if as_json:
        emit_json({"written": [str(p) for p in paths], "site_errors": errors})
        return
    for name, err in sorted(errors.items()):
        click.echo(f"warning: {name}: {err}", err=True)
    for p in paths:
        click.echo(f"wrote {p}")


# -------------------------------------------------------------------------------------- jdl
@cli.command()
@click.argument("component")
@click.argument("version")
@click.option("--vo", required=True, help="The VO the job runs in (the tag is per VO).")
@click.option(
    "--template", default="job", show_default=True,
    help="Which JDL template: 'job' asks for the version's tag, 'preview' also for the "
    "site's PPS-PREVIEW capability.",
)  # fmt: skip
@click.option("--executable", default="/bin/hostname", show_default=True, help="The job's program.")
@click.option("--arguments", default="", help="The job's arguments.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@pass_state
def jdl(
    state: State,
    component: str,
    version: str,
    vo: str,
    template: str,
    executable: str,
    arguments: str,
    out: Path | None,
) -> None:
    """Print a gLite-WMS JDL that runs only where COMPONENT VERSION is live for VO.

    With a configuration (--config, PPS_CONFIG or ./pps.toml) the release must exist in its
    repository; with none, the JDL is rendered unchecked.

    \b
    Example:
      pps jdl glite-UI 3.2.8-0 --vo dteam --out job.jdl
    """
    import jdl_templates

    try:
        index = state.repo.load()
    except ConfigError:
        if state.explicit or state.config_path.exists():
            raise
        index = None  # no pps.toml here and none named: render without checking a repository
    if index is not None:
        rel = index.find(component, version)
        if rel.embargo:
            click.echo(f"note: {rel.key} is embargoed: do not share this JDL publicly", err=True)
    text = jdl_templates.render(
        template, component=component, version=version, vo=vo, executable=executable,
        arguments=arguments,
    )  # fmt: skip
    if out:
        from pps.fsutil import atomic_write

        atomic_write(out, text.encode())
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)


# ----------------------------------------------------------------------------- probe-bundle
@cli.command("probe-bundle")
@click.option(
    "-o", "--out", default="check_preview_client.pyz", show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (replaced whole if it exists).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the bundle's record as JSON.")
def probe_bundle(out: Path, as_json: bool) -> None:
    """Write the site-side probe as one file that a site runs with its own python3.

    The file is a zipapp holding the probe, the GIP provider, the pps core and their pure-Python
    dependencies, so a site needs Python 3.9 or newer and nothing installed.  Only a site that
    pins the repository's signing key also needs the 'cryptography' library (Debian:
    python3-cryptography).  Run under a name containing 'gip-provider' (a symlink), the same
    file is the GIP provider.  The same sources always give the same bytes.

    \b
    Example:
      pps probe-bundle -o check_preview_client.pyz
      ln -s /usr/local/bin/check_preview_client.pyz /usr/local/bin/pps-gip-provider
    """
    from distributor.bundle import build_probe_bundle

    bundle = build_probe_bundle(out)
    if as_json:
        emit_json(bundle.to_dict())
    else:
        click.echo(
            f"wrote {bundle.path} ({bundle.size} bytes, sha256 {bundle.sha256}): "
            "run it with python3 >= 3.9, nothing else needed"
        )


# ------------------------------------------------------------------------------------- demo
@cli.command()
@click.option(
    "--out", default="demo-output", show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to build the demo grid (emptied first if it holds an earlier demo).",
)  # fmt: skip
def demo(out: Path) -> None:
    """Build a demo grid of local sites and run the whole preview pipeline on it.

    Six partner sites (directories) with a fake production client, a repository, one
    backward compatible and one non backward compatible client release pushed to them, and
    the bulletin.  Nothing outside OUT is touched; no server is needed.
    """
    from distributor.demo import run_demo

    ok = run_demo(out, echo=click.echo)
    if not ok:
        sys.exit(1)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pps")


if __name__ == "__main__":  # pragma: no cover
    main()
