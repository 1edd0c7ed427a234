"""Site-side tools for the operator: ``pps nagios-config``, ``pps probe-bundle``, ``pps site
trust``."""

from __future__ import annotations

from pathlib import Path

import click

from distributor import nagios
from distributor.cli import (
    BadInputError,
    CliContext,
    PPSGroup,
    cli,
    emit_json,
    pass_context,
)
from distributor.nagios import NagiosOptions, default_probe
from distributor.transport.bundle import build_probe_bundle
from pps.fsutil import atomic_write


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
@click.option(
    "--publication", is_flag=True,
    help="Also a 'pps publication' service per site: check_preview_publication checks that the "
    "site's verified tags are in its BDII.",
)  # fmt: skip
@click.option(
    "--publication-probe", default="", metavar="PATH",
    help="Absolute path of check_preview_publication at the sites (default: beside --probe; "
    "for a .pyz, a symlink of that name to it).",
)  # fmt: skip
@click.option(
    "--bdii", default="", metavar="URL",
    help="The BDII the publication service asks, ldap://HOST:PORT (default: the site file's "
    "'bdii', else ldap://localhost:2170).",
)  # fmt: skip
@click.option(
    "--site-file", "site_file", default="look", show_default=True,
    type=click.Choice(["look", "present", "absent"]),
    help="Whether each site has its own site file: 'look' asks the site (through its transport, "
    "as a push does; a site that cannot be asked fails the command, exit 1); 'present' or "
    "'absent' says so for every site written, without connecting.",
)  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
@pass_context
def nagios_config(
    state: CliContext,
    sites: tuple[str, ...],
    probe: str | None,
    python: str,
    probe_timeout: int,
    nagios_check_timeout: int,
    interval: int,
    contact_group: str,
    publication: bool,
    publication_probe: str,
    bdii: str,
    site_file: str,
    out: Path | None,
) -> None:
    """Write Nagios objects that run the probe at the sites on schedule.

    A host per site and a service per preview release the site takes.  Each host says where
    the probe finds the site: a site that has its own site file is described by it (the file
    a push reads too); a site without one by the inventory's values (--no-site-config
    --preview-root ... --vo ...), as a push gives them.  --site-file says how that is known.

    With [repository] url (pull mode) the services read the repository and a cleanup
    service per site retires versions that are no longer previews.  Without one (push mode)
    each service re-tests its release's incoming area as the last push left it, and there is
    no cleanup service: an incoming area holds a one-release index marked as a subset, which
    never retires anything; a version ends at a push-mode site when the step that ends its
    preview (release close, a rejection, 'pps remove') pushes to the site, and the probe
    retires it then ('pps status' shows NOT TOLD where that push failed).  Write the file
    again when a preview starts or ends.  With --publication, a 'pps publication' service
    per site checks that the site's verified tags are in its BDII (CRITICAL when one is
    missing after a BDII cycle, WARNING for stale tags).

    Every value that reaches the file is checked first and refused with one line (exit 2)
    unless it is made of safe characters (Nagios hands a command line with any shell
    metacharacter to /bin/sh, and a newline would add a directive): paths of letters, digits
    and ./_+-, names of letters, digits and ._-, host names, ldap://HOST:PORT, and a
    [repository] url of https://HOST[:PORT]/PATH (no query, fragment or user; checked by
    every command when pps.toml is read) or an absolute directory.  Programs are named by
    absolute path; 'nagios4 -v' accepts the file alone or beside a site's configuration.

    \b
    Example:
      pps nagios-config --site INFN-PISA --out /etc/nagios4/conf.d/pps.cfg
      pps nagios-config --publication --bdii ldap://localhost:2170
      pps nagios-config --site-file absent --site UNREACHABLE-SITE
    """
    options = NagiosOptions(
        probe=probe or default_probe(), python=python, probe_timeout=probe_timeout,
        interval=interval, contact_group=contact_group, nagios_check_timeout=nagios_check_timeout,
        publication=publication, publication_probe=publication_probe, bdii=bdii,
    )  # fmt: skip
    text = nagios.nagios_config(state.config, state.repo.load(), sites, options, site_file)
    if out:
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
    file is the GIP provider; under a name containing 'publication', check_preview_publication.
    The same sources always give the same bytes.

    \b
    Example:
      pps probe-bundle -o check_preview_client.pyz
      ln -s /usr/local/bin/check_preview_client.pyz /usr/local/bin/pps-gip-provider
      ln -s /usr/local/bin/check_preview_client.pyz /usr/local/bin/check_preview_publication
    """
    bundle = build_probe_bundle(out)
    if as_json:
        emit_json(bundle.to_dict())
    else:
        click.echo(
            f"wrote {bundle.path} ({bundle.size} bytes, sha256 {bundle.sha256}): "
            "run it with python3 >= 3.9, nothing else needed"
        )


@cli.group(cls=PPSGroup)
def site() -> None:
    """One partner site: its SSH host key."""


@site.command("trust")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Record the key without asking (for scripts).")
@pass_context
def site_trust(state: CliContext, name: str, yes: bool) -> None:
    """Show the SSH host key site NAME presents, and record it in the inventory's known_hosts.

    Compare the fingerprint with what the site's admin reads on the host
    ('ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub') before you confirm: from then on every
    push checks the site against it, and a changed key fails the site until you run this again.

    \b
    Example:
      pps site trust INFN-PISA
    """
    from distributor.transport.ssh import fingerprint, known_key, scan_host_key, trust

    s = state.config.site(name)
    if s.transport != "ssh" or s.known_hosts is None:
        raise BadInputError(f"site {name} is not reached over ssh: nothing to trust")
    key = scan_host_key(s)
    old = known_key(s)
    said = f"{s.host}:{s.port} presents {key.get_name()} {fingerprint(key)}"
    if old is not None and old == key:
        click.echo(f"{said}: already trusted in {s.known_hosts}")
        return
    click.echo(said)
    if old is not None:
        click.echo(f"WARNING: {s.known_hosts} has another key for it: {old.get_name()} "
                   f"{fingerprint(old)}; trusting the new one replaces it", err=True)  # fmt: skip
    if not yes and not click.confirm("trust this key?", default=False):
        raise click.ClickException("not trusted: nothing changed")
    trust(s, key)
    click.echo(f"recorded in {s.known_hosts}")
