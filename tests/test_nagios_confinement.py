"""What reaches the Nagios objects 'pps nagios-config' writes is confined (issue 17).

Nagios 4 runs a check's command line itself (execvp) only when the line holds none of the
characters its command parser takes for shell syntax (libnagios ``runcmd_cmd2strv``: ``| < > &
; ` ( ) $ * ?``, quotes, backslashes); with any of them the whole line goes to ``/bin/sh -c``.
In the object file ``;`` starts a comment, ``!`` separates a check_command's arguments, ``$``
starts a macro and a newline starts a new directive.  Every value of the inventory or of a flag
that would carry such a character is refused with one line before anything is written.

The payload tests write what an attacker would (the inventory or a flag), run the real nagios4
on whatever 'pps nagios-config' wrote, and look for the file the payload makes: before the fix
the config was written, ``nagios4 -v`` accepted it and the marker appeared.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distributor.nagios import NagiosOptions, render
from pps.classes import PartnerClass, ReleaseType, UpdateClass
from pps.errors import BadInput
from pps.inventory import Site
from pps.repository import STAGES, Release
from tests.grid import Grid, write
from tests.nagios_helpers import (
    NAGIOS,
    main_config,
    pull_mode,
    releases,
    running,
    verify,
    wait_for_checks,
)
from tests.realparts import require


@pytest.fixture
def nagios() -> str:
    return require(NAGIOS, "nagios4-core")


def toml_str(value: str) -> str:
    """*value* as a TOML basic string (JSON's escapes are TOML's, '/' is never escaped)."""
    return json.dumps(value)


def edit_site(grid: Grid, site: str, **values: str) -> None:
    """Set keys of site *site* in the grid's pps.toml (replacing the line when it is there)."""
    text = grid.config.read_text()
    head, *blocks = text.split("[[sites]]\n")
    for i, block in enumerate(blocks):
        if f'name = "{site}"\n' not in block:
            continue
        lines = block.splitlines()
        for key, value in values.items():
            line = f"{key} = {toml_str(value)}"
            at = [j for j, ln in enumerate(lines) if ln.startswith(f"{key} = ")]
            if at:
                lines[at[0]] = line
            else:
                lines.append(line)
        blocks[i] = "\n".join(lines) + "\n\n"
    grid.config.write_text("[[sites]]\n".join([head, *blocks]))


def add_ssh_site(grid: Grid, host: str = "127.0.0.1", port: int = 22, **more: str) -> None:
    known = write(grid.root / "known_hosts", "")
    extra = "".join(f"{k} = {toml_str(v)}\n" for k, v in more.items())
    with grid.config.open("a") as f:
        f.write(
            f"""
[[sites]]
name = "ECHO"
partner = "none"
vos = ["dteam"]
transport = "ssh"
host = {toml_str(host)}
port = {port}
user = "pps"
known_hosts = "{known}"
subcluster = "ce.echo.test"
connect_timeout = 2
{extra}"""
        )


# ------------------------------------------------------------------ payloads against nagios4
class Payload:
    """An executable that leaves a marker file when something runs it."""

    def __init__(self, base: Path, at: str = "evil/run") -> None:
        self.marker = base / "evil" / "PWNED"
        self.script = write(base / at, f"#!/bin/sh\ntouch {self.marker}\n", executable=True)


def run_what_was_written(nagios: str, objects: Path, run: Path, services: set[str]) -> None:
    """Nagios runs whatever 'pps nagios-config' wrote (if it wrote anything) until it checked
    *services*; ``nagios4 -v`` must accept it first, as a site admin's reload would.  The
    nagios.cfg leaves illegal_macro_output_chars at Nagios's default (none): the confinement
    must not depend on a site's setting."""
    if not objects.exists():
        return
    cfg = main_config(run, objects, illegal_macro_output_chars="")
    check = verify(nagios, cfg)
    assert check.returncode == 0, check.stdout
    with running(nagios, cfg) as status:
        wait_for_checks(status, services, timeout=60)


NOT_IN_A_PATH = "(use letters, digits and ./_+- in a path)"


def _site_config(grid: Grid, tmp: Path) -> tuple[list[str], str, Payload]:
    payload = Payload(tmp)
    value = f"/etc/pps/site.toml&{payload.script}"
    edit_site(grid, "ALPHA", site_config=value)
    return [], (f"site ALPHA: site_config '{value}' cannot go into a Nagios command line: '&' "
                f"is not allowed {NOT_IN_A_PATH}"), payload  # fmt: skip


def _preview_root(grid: Grid, tmp: Path) -> tuple[list[str], str, Payload]:
    # push mode: the service's incoming area is <preview_root>/.pps/incoming/good-1.0
    payload = Payload(tmp, "evil/.pps/incoming/good-1.0")
    value = f"/opt/pps/preview|{tmp}/evil"
    edit_site(grid, "ALPHA", preview_root=value)
    return [], (f"site ALPHA: preview_root '{value}' cannot go into a Nagios command line: '|' "
                f"is not allowed {NOT_IN_A_PATH}"), payload  # fmt: skip


def _root(grid: Grid, tmp: Path) -> tuple[list[str], str, Payload]:
    payload = Payload(tmp, "evil/etc/pps/site.toml")
    value = f"{tmp}/site&{tmp}/evil"
    edit_site(grid, "ALPHA", root=value)
    return [], (f"site ALPHA: root '{value}' cannot go into a Nagios command line: '&' is not "
                f"allowed {NOT_IN_A_PATH}"), payload  # fmt: skip


def _repository_url(grid: Grid, tmp: Path) -> tuple[list[str], str, Payload]:
    payload = Payload(tmp)
    value = f"{grid.root}/repo>{payload.marker}"
    pull_mode(grid, value)
    return [], (f"{grid.config}: [repository] url '{value}' is not valid: '>' is not allowed "
                "(use letters, digits and -._~/+% in its path)"), payload  # fmt: skip


def _probe(grid: Grid, tmp: Path) -> tuple[list[str], str, Payload]:
    payload = Payload(tmp)
    value = f"/bin/true&{payload.script}"
    return ["--probe", value], (f"probe '{value}' cannot go into a Nagios command line: '&' is "
                                f"not allowed {NOT_IN_A_PATH}"), payload  # fmt: skip


def _python(grid: Grid, tmp: Path) -> tuple[list[str], str, Payload]:
    payload = Payload(tmp)
    value = f"/bin/true|{payload.script}"
    return ["--python", value], (f"python '{value}' cannot go into a Nagios command line: '|' "
                                 f"is not allowed {NOT_IN_A_PATH}"), payload  # fmt: skip


def _publication_probe(grid: Grid, tmp: Path) -> tuple[list[str], str, Payload]:
    payload = Payload(tmp)
    value = f"/bin/true>{payload.marker}"
    return ["--publication", "--publication-probe", value], (
        f"publication probe '{value}' cannot go into a Nagios command line: '>' is not allowed "
        f"{NOT_IN_A_PATH}"), payload  # fmt: skip


def _bdii(grid: Grid, tmp: Path) -> tuple[list[str], str, Payload]:
    payload = Payload(tmp)
    value = f"ldap://127.0.0.1:2170/&{payload.script}"
    return ["--publication", "--bdii", value], (
        f"BDII URL '{value}' is not valid: it must name only a host and a port (use "
        "ldap://HOST:PORT)"), payload  # fmt: skip


PAYLOADS: dict[str, tuple[Callable[[Grid, Path], tuple[list[str], str, Payload]], str]] = {
    "site_config-ampersand": (_site_config, "pps good 1.0"),
    "preview_root-pipe": (_preview_root, "pps good 1.0"),
    "local-root-ampersand": (_root, "pps good 1.0"),
    "repository-url-redirect": (_repository_url, "pps good 1.0"),
    "probe-ampersand": (_probe, "pps good 1.0"),
    "python-pipe": (_python, "pps good 1.0"),
    "publication-probe-redirect": (_publication_probe, "pps publication"),
    "bdii-ampersand": (_bdii, "pps publication"),
}


@pytest.mark.parametrize("case", sorted(PAYLOADS))
def test_a_shell_metacharacter_in_a_value_never_runs_its_payload(
    grid: Grid, nagios: str, tmp_path: Path, case: str
) -> None:
    releases(grid, ("good",))
    setup, service = PAYLOADS[case]
    args, message, payload = setup(grid, tmp_path)
    objects = tmp_path / "pps.cfg"

    result = grid.invoke("nagios-config", "--site", "ALPHA", "--out", str(objects), *args)
    run_what_was_written(nagios, objects, tmp_path / "run", {service})

    assert not payload.marker.exists(), "Nagios ran the payload"
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {message}\n"
    assert not objects.exists()


def test_a_query_in_the_repository_url_is_refused_saying_why(grid: Grid, tmp_path: Path):
    url = "https://pps.example.org/repo?a=1&b=2"
    pull_mode(grid, url)
    objects = tmp_path / "pps.cfg"

    said = [grid.invoke("nagios-config", "--out", str(objects)),
            grid.invoke("release", "list"), grid.invoke("sites")]  # fmt: skip

    for result in said:
        assert result.exit_code == 2, result.output
        assert result.output == (
            f"Error: {grid.config}: [repository] url '{url}' is not valid: a query ('?') has no "
            "place in it: the probe reads index.json and the tarballs below the URL, which "
            "names the repository's directory (https://HOST[:PORT]/PATH)\n"
        )
    assert not objects.exists()


def test_a_newline_in_the_contact_group_adds_no_directive(grid: Grid, tmp_path: Path):
    objects = tmp_path / "pps.cfg"
    value = "admins\n    check_command  pps-check-preview-client"

    result = grid.invoke("nagios-config", "--contact-group", value, "--out", str(objects))

    assert result.exit_code == 2
    assert result.output == (
        f"Error: contact group {value!r} cannot go into the Nagios objects: '\\n' is not allowed "
        "(use letters, digits and ._-)\n"
    )
    assert not objects.exists()


# --------------------------------------------------------- every place, every hostile value
HOSTILE = {
    "ampersand": "&",
    "redirect": ">",
    "pipe": "|",
    "subshell": "$(touch x)",
    "backticks": "`id`",
    "newline": "\n",
    "semicolon": ";",
    "hash": "#",
    "space": " ",
    "quote": "'",
    "backslash": "\\",
    "glob": "*",
    "question": "?",
    "bang": "!",
    "equals": "=",
    "fullwidth-ampersand": "\uff06",
    "division-slash": "\u2215",
    "nul": "\x00",
}


def _inventory(key: str, good: str) -> Callable[[Grid, str], list[str]]:
    def place(grid: Grid, value: str) -> list[str]:
        edit_site(grid, "ALPHA", **{key: value})
        return []

    place.good = good  # type: ignore[attr-defined]
    return place


def _flag(flag: str, good: str, *more: str) -> Callable[[Grid, str], list[str]]:
    def place(grid: Grid, value: str) -> list[str]:
        return [*more, flag, value]

    place.good = good  # type: ignore[attr-defined]
    return place


def _url(grid: Grid, value: str) -> list[str]:
    pull_mode(grid, value)
    return []


_url.good = "https://pps.example.org/repo"  # type: ignore[attr-defined]


def _host(grid: Grid, value: str) -> list[str]:
    add_ssh_site(grid, value)
    return ["--site-file", "absent"]


_host.good = "ce.example.org"  # type: ignore[attr-defined]


def _local_root(grid: Grid, value: str) -> list[str]:
    edit_site(grid, "ALPHA", root=value)
    return []


PLACES: dict[str, tuple[Callable[[Grid, str], list[str]], str]] = {
    "site_config": (_inventory("site_config", "/etc/pps/site.toml"), "site_config"),
    "preview_root": (_inventory("preview_root", "/opt/pps/preview"), "preview_root"),
    "info_dir": (_inventory("info_dir", "/opt/glite/var/info"), "info_dir"),
    "profile_d": (_inventory("profile_d", "/etc/profile.d"), "profile_d"),
    "subcluster": (_inventory("subcluster", "ce.alpha.test"), "subcluster"),
    "site-name": (_inventory("name", "ALPHA"), "site name"),
    "root": (_local_root, "root"),
    "repository-url": (_url, "[repository] url"),
    "ssh-host": (_host, "host"),
    "probe": (_flag("--probe", "/usr/local/bin/check_preview_client"), "probe"),
    "python": (_flag("--python", "/usr/bin/python3"), "python"),
    "publication-probe": (
        _flag("--publication-probe", "/usr/local/bin/check_preview_publication", "--publication"),
        "publication probe",
    ),  # fmt: skip
    "contact-group": (_flag("--contact-group", "site-admins"), "contact group"),
    "bdii": (_flag("--bdii", "ldap://bdii.example.org:2170", "--publication"), "bdii"),
}
_local_root.good = ""  # type: ignore[attr-defined]  # set per grid: its own ALPHA


def _hostile(good: str, bad: str) -> str:
    """*bad* inside *good*: in its host for URLs, in its middle otherwise."""
    if "://" in good:
        scheme, _, rest = good.partition("://")
        return f"{scheme}://{rest[:4]}{bad}{rest[4:]}"
    cut = len(good) // 2
    return good[:cut] + bad + good[cut:]


@pytest.mark.parametrize(
    ("place", "bad"),
    [(p, b) for p in sorted(PLACES) for b in sorted([*HOSTILE, "leading-dash"])
     # a relative root is the config's directory's: "-x" is <that directory>/-x
     if (p, b) != ("root", "leading-dash")],
)  # fmt: skip
def test_a_hostile_value_is_refused_with_one_line_naming_its_place(
    grid: Grid, tmp_path: Path, place: str, bad: str
) -> None:
    put, named = PLACES[place]
    good = put.good or str(grid.site_root("ALPHA"))  # type: ignore[attr-defined]
    value = "-" + good if bad == "leading-dash" else _hostile(good, HOSTILE[bad])
    objects = tmp_path / "pps.cfg"

    result = grid.invoke("nagios-config", *put(grid, value), "--out", str(objects))

    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert named.lower() in result.output.lower(), result.output
    assert not objects.exists()


@pytest.mark.parametrize("place", sorted(PLACES))
def test_the_good_value_of_every_place_is_accepted(grid: Grid, tmp_path: Path, place: str):
    put, _ = PLACES[place]
    good = put.good or str(grid.site_root("ALPHA"))  # type: ignore[attr-defined]
    objects = tmp_path / "pps.cfg"

    result = grid.invoke("nagios-config", "--site-file", "absent", *put(grid, good),
                         "--out", str(objects))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert objects.exists()


# ------------------------------------------------------------------- the property, any value
WORD = re.compile(r"[A-Za-z0-9._/:=@%+,~\[\]-]+\Z")
PROGRAM = re.compile(r"/[A-Za-z0-9._+/-]+\Z")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
#: The probes' flags and whether each takes a value.
FLAGS = {
    "--site-config": True, "--no-site-config": False, "--timeout": True, "--repository": True,
    "--component": True, "--version": True, "--preview-root": True, "--info-dir": True,
    "--subcluster": True, "--profile-d": True, "--vo": True, "--cleanup": False, "--bdii": True,
    "--site": True,
}  # fmt: skip
DIRECTIVES = {
    "command": {"command_name", "command_line"},
    "timeperiod": {"timeperiod_name", "alias", "sunday", "monday", "tuesday", "wednesday",
                   "thursday", "friday", "saturday"},  # fmt: skip
    "contact": {"contact_name", "alias", "host_notifications_enabled",
                "service_notifications_enabled", "host_notification_period",
                "service_notification_period", "host_notification_options",
                "service_notification_options", "host_notification_commands",
                "service_notification_commands"},  # fmt: skip
    "contactgroup": {"contactgroup_name", "alias", "members"},
    "host": {"use", "name", "register", "max_check_attempts", "check_period",
             "active_checks_enabled", "contact_groups", "notification_interval",
             "notification_period", "host_name", "alias", "address", "_PPS_SITE",
             "_PPS_PUBLICATION"},  # fmt: skip
    "service": {"use", "name", "register", "max_check_attempts", "check_interval",
                "retry_interval", "check_period", "contact_groups", "notification_interval",
                "notification_period", "host_name", "service_description", "check_command"},
}  # fmt: skip


def parse_objects(text: str) -> list[tuple[str, dict[str, str]]]:
    """The object definitions of *text*; fails on any line that is not one of ours."""
    objects: list[tuple[str, dict[str, str]]] = []
    block: dict[str, str] | None = None
    for line in text.split("\n"):
        assert all(c in string.printable and c not in "\r\x0b\x0c\t" for c in line), line
        if block is None:
            m = re.fullmatch(r"define (\w+) \{", line)
            if m:
                assert m.group(1) in DIRECTIVES, line
                block = {}
                objects.append((m.group(1), block))
            else:
                assert line == "" or line.startswith("# "), line
        elif line == "}":
            block = None
        else:
            m = re.fullmatch(r"    (\S+) +(\S.*)", line)
            assert m, line
            key, value = m.groups()
            assert key in DIRECTIVES[objects[-1][0]] and key not in block, line
            assert ";" not in value and "\\" not in value and value == value.strip(), line
            block[key] = value
    assert block is None
    return objects


def check_command_line(line: str) -> None:
    """One expanded command line: allow-listed words only, a program first, every flag known and
    followed by a value when it takes one (no value can pass for a flag, nor a flag for one)."""
    assert "$" not in line, line
    words = line.split(" ")
    assert all(WORD.match(w) for w in words), line
    assert PROGRAM.match(words[0]), line
    wants_value = False
    for i, word in enumerate(words[1:], 1):
        if wants_value:
            assert not word.startswith("-"), line
            wants_value = False
        elif word.startswith("-"):
            assert word in FLAGS, line
            wants_value = FLAGS[word]
        else:
            assert i == 1 and PROGRAM.match(word), line  # only the script a python runs
    assert not wants_value, line


def check_objects(text: str, sites: list[Site]) -> None:
    objects = parse_objects(text)
    commands = {o["command_name"]: o["command_line"] for k, o in objects if k == "command"}
    hosts = {o["host_name"]: o for k, o in objects if k == "host" and "host_name" in o}
    assert list(hosts) == [s.name for s in sites]
    assert set(commands) <= {"pps-check-preview-client", "pps-check-preview-cleanup",
                             "pps-check-preview-publication", "pps-notify-nobody"}  # fmt: skip
    for kind, o in objects:
        if "contact_groups" in o:
            assert NAME.match(o["contact_groups"]), o
        if kind != "service" or "check_command" not in o:
            continue
        name, *args = o["check_command"].split("!")
        line = commands[name]
        for n, arg in enumerate(args, 1):
            assert WORD.match(arg), o
            line = line.replace(f"$ARG{n}$", arg)
        for key, value in hosts[o["host_name"]].items():
            if key.startswith("_"):
                line = line.replace(f"$_HOST{key[1:]}$", value)
        check_command_line(line)


NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,12}", fullmatch=True)
PATHS = st.from_regex(r"(/[A-Za-z0-9._+-]{1,8}){1,3}", fullmatch=True)
VOS = st.from_regex(r"[a-z0-9][a-z0-9.]{0,6}", fullmatch=True)
HOSTS = st.from_regex(r"[a-z0-9]{1,6}(\.[a-z0-9]{1,6}){0,2}", fullmatch=True)
#: Characters with a meaning somewhere on the way (shell, Nagios, the object file), lookalikes.
JUNK = st.sampled_from(list("&|<>;$`'\"\\ \n\t#!()?*{}=~%:@,[]-") +
                       ["\uff06", "\u2215", "\x00", "\u00e9", "\u200b", "\r"])  # fmt: skip


@st.composite
def sites(draw: st.DrawFn) -> Site:
    local = draw(st.booleans())
    return Site(
        name=draw(NAMES),
        partner=draw(st.sampled_from(list(PartnerClass))),
        vos=tuple(draw(st.lists(VOS, min_size=1, max_size=3))),
        transport="local" if local else "ssh",
        subcluster=draw(HOSTS),
        preview_root=draw(PATHS),
        info_dir=draw(PATHS),
        profile_d=draw(PATHS),
        site_config=draw(PATHS),
        root=Path(draw(PATHS)) if local else None,
        host="" if local else draw(HOSTS),
        user="pps",
    )


RELEASES = [
    Release(c, v, stage, f"{stage}/{c}/{v}/{c}-{v}.tar.gz", "0" * 64, 1, cls, ReleaseType.MINOR)
    for c, v, stage, cls in [
        ("glite-UI", "3.2.8-0", STAGES[0], UpdateClass.BC_CLIENT),
        ("dpm", "1.8.1", STAGES[1], UpdateClass.NBC_SERVER),
        ("old", "1.0", STAGES[2], UpdateClass.BC_CLIENT),
    ]
]
URLS = st.one_of(st.just(""), st.builds(lambda h, p: f"https://{h}{p}", HOSTS, PATHS), PATHS)


@st.composite
def options(draw: st.DrawFn) -> NagiosOptions:
    publication = draw(st.booleans())
    maybe = st.one_of(st.just(""), PATHS)
    return NagiosOptions(
        probe=draw(PATHS),
        python=draw(maybe),
        contact_group=draw(st.one_of(st.just(""), NAMES)),
        publication=publication,
        publication_probe=draw(maybe) if publication else "",
        bdii=draw(st.one_of(st.just(""), st.builds(lambda h: f"ldap://{h}:2170", HOSTS)))
        if publication
        else "",
    )


SITE_FIELDS = ("name", "vos", "subcluster", "preview_root", "info_dir", "profile_d",
               "site_config", "root", "host")  # fmt: skip
OPTION_FIELDS = ("probe", "python", "contact_group", "publication_probe", "bdii")


def spoiled(data: st.DataObject, value: str) -> str:
    """*value* with junk put in (anywhere, or as all of it), or an option's leading dash."""
    junk = data.draw(st.text(JUNK, min_size=1, max_size=4))
    how = data.draw(st.integers(0, 5))
    if not value or how == 0:
        return data.draw(st.one_of(st.just(junk), st.text(max_size=12)))
    if how == 1:
        return "-" + value
    cut = data.draw(st.integers(0, len(value)))
    return value[:cut] + junk + value[cut:]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(sites(), min_size=1, max_size=3, unique_by=lambda s: s.name),
    options(),
    URLS,
    st.data(),
)
def test_any_inventory_is_refused_with_one_line_or_gives_only_allow_listed_commands(
    sites_: list[Site], options_: NagiosOptions, url: str, data: st.DataObject
) -> None:
    """An inventory and options that are good but for (at most) one value, spoiled anyhow."""
    places = [None, "url", *OPTION_FIELDS,
              *((i, f) for i in range(len(sites_)) for f in SITE_FIELDS)]  # fmt: skip
    place = data.draw(st.sampled_from(places))
    if place == "url":
        url = spoiled(data, url)
    elif isinstance(place, str):
        changed: dict[str, Any] = {place: spoiled(data, getattr(options_, place))}
        options_ = replace(options_, **changed)
    elif place is not None:
        i, key = place
        site = sites_[i]
        if key == "vos":
            n = data.draw(st.integers(0, len(site.vos) - 1))
            value: Any = (*site.vos[:n], spoiled(data, site.vos[n]), *site.vos[n + 1 :])
        elif key == "root":
            value = Path(spoiled(data, str(site.root or "")))
        else:
            value = spoiled(data, getattr(site, key))
        sites_[i] = replace(site, **{key: value})
    with_file = data.draw(st.sets(st.sampled_from([s.name for s in sites_])))
    try:
        text = render(sites_, RELEASES, options_, url, site_files=with_file)
    except BadInput as e:
        assert "\n" not in str(e) and str(e)
        return
    check_objects(text, sites_)
