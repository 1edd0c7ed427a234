"""The ``pps`` command line: thin on purpose, one module per group of commands.

Each command parses its options, calls library code in :mod:`distributor`, :mod:`bulletin` or
:mod:`jdl_templates`, and prints.  Domain errors become exit codes in one place
(:class:`PPSGroup`): bad input (a name outside the grammar, an unknown release, a wrong config)
is exit 2 with one line naming the value; an operation that failed is exit 1.  Every listing
command takes ``--json`` for scripts.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pps import __version__
from pps.errors import AlreadyExists, BadInput, ConfigError, NotFound, PPSError
from pps.text import printable

if TYPE_CHECKING:
    from pps.inventory import Config
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
            raise BadInputError(printable(str(e))) from None
        except PPSError as e:
            raise click.ClickException(printable(str(e))) from None


#: Which module of this package defines each top-level command: a module is imported only when
#: one of its commands is looked up (``pps infosys map`` loads neither jinja2 nor the push
#: machinery).  Each module registers its commands on :data:`cli` with ``@cli.command()``.
COMMAND_MODULES = {
    "bulletin": "bulletin",
    "demo": "bulletin",
    "jdl": "bulletin",
    "feedback": "feedback",
    "infosys": "infosys",
    "job": "job",
    "match": "match",
    "metrics": "metrics",
    "notify": "notify",
    "pilot": "pilot",
    "push": "push",
    "remove": "push",
    "sites": "push",
    "status": "push",
    "release": "release",
    "repo": "repo",
    "nagios-config": "site",
    "probe-bundle": "site",
    "site": "site",
}


class LazyPPSGroup(PPSGroup):
    """The top-level group: its commands are listed from :data:`COMMAND_MODULES` and their
    module is imported on first look-up (the click "lazy group" pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"{__name__}.{COMMAND_MODULES[cmd_name]}")
        return self.commands.get(cmd_name)


class TestOption(click.ParamType):
    name = "NAME=COMMAND"

    def convert(self, value: Any, param: Any, ctx: Any) -> LocalTest:
        from pps.manifest import LocalTest

        if isinstance(value, LocalTest):
            return value
        try:
            return LocalTest.parse_option(value)
        except BadInput as e:
            self.fail(str(e), param, ctx)


class CliContext:
    """``ctx.obj``: the config, loaded on first use."""

    def __init__(self, config_path: str, explicit: bool = True) -> None:
        self.config_path = Path(config_path)
        #: Whether the user named the file (--config or PPS_CONFIG) rather than the default.
        self.explicit = explicit
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from pps.inventory import load_config

            self._config = load_config(self.config_path)
        return self._config

    def optional_config(self) -> Config | None:
        """The configuration, or None when none was named and ./pps.toml does not exist (a
        BDII, a job file can be read without an inventory)."""
        if not self.explicit and not self.config_path.exists():
            return None  # nothing to read: the inventory's code is not even imported
        try:
            return self.config
        except ConfigError:
            if self.explicit or self.config_path.exists():
                raise
            return None

    @property
    def repo(self) -> Repository:
        """The configured repository; one that does not exist yet is bad input (only
        ``pps repo init`` makes one, so a mistyped path never grows a repository)."""
        from pps.repository import Repository

        found = Repository(self.config.repository)
        if not found.index_path.is_file():
            raise BadInputError(
                f"{found.root} is not a pps repository (no {found.index_path.name}): create it "
                "with 'pps repo init'"
            )
        return found

    def store(self, readonly: bool | None = None) -> Any:
        """The state store; opened read-only (nothing written, no file created) for the
        commands that only read and for every ``--dry-run`` (*readonly* None: decided from the
        command being run, :data:`READ_ONLY_COMMANDS`)."""
        from distributor.store import Store

        if self.config.state_path is None:
            raise BadInputError(f"{self.config_path}: no state store configured")
        if readonly is None:
            readonly = _read_only_invocation()
        return Store(self.config.state_path, readonly=readonly)


#: The commands that only read the state store (``pps release list`` is ``"release list"``);
#: any command run with ``--dry-run`` reads only too.
READ_ONLY_COMMANDS = frozenset({
    "status", "sites", "metrics", "release list", "release show", "release notes",
    "notify queue", "feedback list", "pilot list",
})  # fmt: skip


def _read_only_invocation() -> bool:
    """Whether the command being run (click's current context) only reads."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    if ctx.params.get("dry_run"):
        return True
    names = []
    while ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names)) in READ_ONLY_COMMANDS


pass_context = click.make_pass_decorator(CliContext)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group(cls=LazyPPSGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = CliContext(config_path, explicit=source is not click.core.ParameterSource.DEFAULT)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print *rows* in columns under *header*; every cell is shown as printable text (what a
    site, a server or a file said never reaches the terminal as control characters)."""
    shown = [[printable(str(c)) for c in row] for row in (header, *rows)]
    widths = [max(len(x) for x in col) for col in zip(*shown)]
    for row in shown:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def say(text: str, *, err: bool = False) -> None:
    """Print one line of text that may hold what a site or a server said, as printable text."""
    click.echo(printable(text), err=err)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="pps")


if __name__ == "__main__":  # pragma: no cover
    main()
