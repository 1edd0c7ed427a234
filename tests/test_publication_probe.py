"""check_preview_publication against a real BDII (Debian's slapd with the GLUE schemas).

Every site here is made by the real check_preview_client (state records, tags files); what the
BDII holds is what the real pps-gip-provider prints for that site, loaded into slapd as
bdii-update would (or a hand-edited copy of it, for the faults).  The plugin runs as a program,
the installed console script, and the tests assert its status line and exit code.  Servers that
misbehave in ways slapd never does (silent, trickling, a million values) are small sockets of
the test's own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from pps.glue import Entry, escape_dn_value, ldif_line, parse_ldif
from pps.repository import Repository
from tests import bdii_helpers
from tests.bdii_helpers import Slapd, free_port
from tests.probe_helpers import (
    SUBCLUSTER,
    Site,
    add_release,
    make_manifest,
    make_site,
    run_probe,
    status_line,
)

slapd = bdii_helpers.slapd
slapd_factory = bdii_helpers.slapd_factory

SITE = "TEST-SITE"
DTEAM = "VO-dteam-PPS-fake-client-1.0.0"
OPS = "VO-ops-PPS-fake-client-1.0.0"
RTE = "GlueHostApplicationSoftwareRunTimeEnvironment"
#: Older than the default grace (600 s).
LONG_AGO = 3600


def plugin_command() -> list[str]:
    script = Path(sys.executable).with_name("check_preview_publication")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "probes.check_preview_publication"]


def run_plugin(
    site: Site, bdii: str | None, *extra: str, flags: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed plugin for *site* as Nagios would."""
    args = ["--site-config", str(site.site_file)]
    if flags:
        args += [
            "--preview-root", str(site.preview_root),
            "--info-dir", str(site.info_dir),
            "--subcluster", SUBCLUSTER,
            "--site", SITE,
        ]  # fmt: skip
    if bdii is not None:
        args += ["--bdii", bdii]
    return subprocess.run(
        [*plugin_command(), *args, *extra],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def text_part(proc: subprocess.CompletedProcess[str]) -> str:
    return status_line(proc).split(" | ")[0]


def perfdata(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    _, _, perf = status_line(proc).partition(" | ")
    return dict(item.split("=", 1) for item in perf.split())


def counts(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    perf = perfdata(proc)
    return {k: perf[k].split(";")[0] for k in ("verified", "published", "pending", "missing",
                                                "stale")}  # fmt: skip


def assert_one_clean_line(proc: subprocess.CompletedProcess[str]) -> None:
    """One status line (long output only with -v), printable ASCII, the perfdata separator
    once."""
    line = status_line(proc)
    assert proc.stdout.count("\n") == 1, proc.stdout
    assert line.count("|") == 1, line
    assert all(" " <= ch <= "~" for ch in line), line


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    add_release(tmp_path / "repo")
    return tmp_path / "repo"


@pytest.fixture
def site(tmp_path: Path, repo: Path) -> Site:
    """A site where the real probe verified fake-client 1.0.0 and tagged it for dteam and ops."""
    site = make_site(tmp_path)
    proc = run_probe(site, repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert DTEAM in (site.tags_text("dteam") or "")
    return site


def gip_ldif(site: Site) -> str:
    """What the site's real GIP provider publishes."""
    script = Path(sys.executable).with_name("pps-gip-provider")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "probes.gip_provider"]
    proc = subprocess.run(
        [*command, "--site", SITE, "--subcluster", SUBCLUSTER,
         "--info-dir", str(site.info_dir), "--preview-root", str(site.preview_root)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return proc.stdout


def to_ldif(entries: Sequence[Entry]) -> str:
    return "\n".join(
        "\n".join([ldif_line("dn", e.dn)] + [ldif_line(name, value) for name, values in
                                             e.attrs.items() for value in values]) + "\n"
        for e in entries
    )  # fmt: skip


def only_suffix(ldif: str, suffix: str) -> str:
    """The entries of *ldif* under *suffix* (``o=grid``: GLUE 1.3, ``o=glue``: GLUE 2.0)."""
    return to_ldif([e for e in parse_ldif(ldif) if e.dn.lower().endswith("," + suffix)])


def with_rte_values(ldif: str, values: Sequence[str]) -> str:
    """*ldif* with more RTE values in its GlueSubCluster entry."""
    entries = parse_ldif(ldif)
    subcluster = next(e for e in entries if e.has_class("GlueSubCluster"))
    subcluster.attrs.setdefault(RTE.lower(), []).extend(values)
    return to_ldif(entries)


def with_glue2_state(ldif: str, tag: str, state: str) -> str:
    """*ldif* with the GLUE 2.0 entry of *tag* saying *state*."""
    entries = parse_ldif(ldif)
    entry = next(e for e in entries if e.first("GLUE2ApplicationEnvironmentAppName") == tag)
    entry.attrs["glue2applicationenvironmentstate"] = [state]
    return to_ldif(entries)


def glue2_entry(tag: str, state: str = "installedverified") -> str:
    """A GLUE 2.0 entry of the subcluster, as pps-gip-provider would write one for *tag*."""
    app_id = f"urn:pps:{SUBCLUSTER}:{tag}"
    dn = f"GLUE2ApplicationEnvironmentID={escape_dn_value(app_id)},GLUE2GroupID=resource,o=glue"
    return "\n".join([
        ldif_line("dn", dn),
        "objectClass: GLUE2Entity",
        "objectClass: GLUE2ApplicationEnvironment",
        ldif_line("GLUE2ApplicationEnvironmentID", app_id),
        ldif_line("GLUE2ApplicationEnvironmentAppName", tag),
        ldif_line("GLUE2ApplicationEnvironmentState", state),
        f"GLUE2ApplicationEnvironmentComputingManagerForeignKey: {SUBCLUSTER}_Manager",
        "",
    ])  # fmt: skip


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def age(site: Site, seconds: float) -> None:
    """Make everything the site did happen *seconds* ago: its records' times, its tags files'."""
    then = time.time() - seconds
    for path in (site.preview_root / ".pps" / "state").rglob("*.json"):
        data = json.loads(path.read_text())
        for key in ("installed_at", "last_verified", "retired_at"):
            if data.get(key):
                data[key] = iso(then)
        path.write_text(json.dumps(data))
    for path in site.info_dir.rglob("*.list"):
        os.utime(path, (then, then))


# --------------------------------------------------------------------------------------- OK


def test_every_verified_tag_in_the_bdii_is_ok_with_counts(site: Site, slapd: Slapd) -> None:
    slapd.add(gip_ldif(site))
    age(site, LONG_AGO)

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert text_part(proc) == (
        f"PREVIEW_PUBLICATION OK - {SITE} {SUBCLUSTER} in {slapd.url}: 2 verified tags "
        "published (GLUE 1.3 and 2.0)"
    )
    assert counts(proc) == {"verified": "2", "published": "2", "pending": "0", "missing": "0",
                            "stale": "0"}  # fmt: skip
    assert perfdata(proc)["time"].endswith("s;;;0")
    assert_one_clean_line(proc)


def test_verbose_output_names_every_tag_on_lines_of_its_own(site: Site, slapd: Slapd) -> None:
    slapd.add(with_rte_values(gip_ldif(site), ["GLITE-3_2_0"]))

    proc = run_plugin(site, slapd.url, "-v")

    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.splitlines()[1:-1] == [
        f"published (GLUE 1.3 and 2.0): {DTEAM}",
        f"published (GLUE 1.3 and 2.0): {OPS}",
        "1 GlueSubCluster entry, 3 GLUE 2.0 tags, 2 other RTE values not judged",
    ]
    assert proc.stdout.splitlines()[-1].startswith("| missing=0;;;0 pending=0;;;0 ")


def test_a_site_with_nothing_verified_and_nothing_published_is_ok(
    tmp_path: Path, slapd: Slapd
) -> None:
    site = make_site(tmp_path)

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 0, proc.stdout
    assert text_part(proc) == (
        f"PREVIEW_PUBLICATION OK - {SITE} {SUBCLUSTER} in {slapd.url}: no verified preview "
        "version here, no stale tag"
    )


# --------------------------------------------------------------------------------- the grace


def test_a_verified_tag_missing_after_the_grace_is_critical_naming_the_tags(
    site: Site, slapd: Slapd
) -> None:
    age(site, LONG_AGO)  # the BDII holds only Debian's default entries

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 2, proc.stdout
    assert text_part(proc) == (
        f"PREVIEW_PUBLICATION CRITICAL - {SITE} {SUBCLUSTER} in {slapd.url}: 2 verified tags "
        f"not in the BDII after the 600 s grace: {DTEAM}, {OPS}"
    )
    assert counts(proc) == {"verified": "2", "published": "0", "pending": "0", "missing": "2",
                            "stale": "0"}  # fmt: skip
    assert_one_clean_line(proc)


def test_a_verified_tag_not_yet_in_the_bdii_is_ok_within_the_grace(
    site: Site, slapd: Slapd
) -> None:
    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 0, proc.stdout
    assert text_part(proc).startswith(
        f"PREVIEW_PUBLICATION OK - {SITE} {SUBCLUSTER} in {slapd.url}: 0 of 2 verified tags "
        f"published; not yet, within the 600 s grace: {DTEAM} ("
    )
    assert counts(proc)["pending"] == "2"
    assert counts(proc)["missing"] == "0"


def test_the_grace_counts_from_when_the_tag_was_written_not_from_the_last_re_test(
    site: Site, repo: Path, slapd: Slapd
) -> None:
    age(site, 1200)  # tagged 20 minutes ago...
    assert run_probe(site, repo).returncode == 0  # ...and re-tested just now: tags untouched
    assert site.tags_file("dteam").stat().st_mtime < time.time() - 1000

    late = run_plugin(site, slapd.url)
    longer = run_plugin(site, slapd.url, "--grace", "1800")

    assert late.returncode == 2, late.stdout
    assert "2 verified tags not in the BDII after the 600 s grace" in text_part(late)
    assert longer.returncode == 0, longer.stdout
    assert "not yet, within the 1800 s grace" in text_part(longer)


def test_a_verified_tag_that_is_in_no_tags_file_says_so(site: Site, slapd: Slapd) -> None:
    site.tags_file("ops").write_text("PPS-PREVIEW\n")  # someone edited the file by hand
    slapd.add(only_suffix(gip_ldif(site), "o=grid"))
    age(site, LONG_AGO)

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 2, proc.stdout
    assert text_part(proc) == (
        f"PREVIEW_PUBLICATION CRITICAL - {SITE} {SUBCLUSTER} in {slapd.url}: 1 verified tag not "
        f"in the BDII after the 600 s grace: {OPS} (in no tags file either); GLUE 1.3 and GLUE "
        f"2.0 disagree: {DTEAM} (GLUE 1.3 only)"
    )


def test_an_unreadable_state_record_is_a_warning_naming_it(site: Site, slapd: Slapd) -> None:
    slapd.add(gip_ldif(site))
    age(site, LONG_AGO)
    bad = site.preview_root / ".pps" / "state" / "other" / "2.0.json"
    bad.parent.mkdir()
    bad.write_text("{not json")

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 1, proc.stdout
    assert text_part(proc).startswith(
        f"PREVIEW_PUBLICATION WARNING - {SITE} {SUBCLUSTER} in {slapd.url}: cannot read the "
        f"state record {bad}: "
    )
    assert counts(proc)["published"] == "2"


# ------------------------------------------------------------------------------------ stale


def retire(site: Site, repo: Path) -> None:
    """The repository stops listing the version; the real probe withdraws its tags."""
    repository = Repository(repo)
    index = repository.load()
    index.releases = []
    repository.save(index)
    proc = run_probe(site, repo)
    assert proc.returncode == 0, proc.stdout
    assert DTEAM not in (site.tags_text("dteam") or "")


def test_a_retired_version_still_in_the_bdii_is_a_stale_warning_after_the_grace(
    site: Site, repo: Path, slapd: Slapd
) -> None:
    slapd.add(gip_ldif(site))  # published while verified; the BDII has not caught up since
    retire(site, repo)

    leaving = run_plugin(site, slapd.url, "-v")
    age(site, LONG_AGO)
    stale = run_plugin(site, slapd.url)

    assert leaving.returncode == 0, leaving.stdout
    assert text_part(leaving) == (
        f"PREVIEW_PUBLICATION OK - {SITE} {SUBCLUSTER} in {slapd.url}: no verified preview "
        "version here, no stale tag"
    )
    assert any(line.startswith("withdrawn ") and line.endswith(f"leaving: {DTEAM}")
               for line in leaving.stdout.splitlines())  # fmt: skip
    assert stale.returncode == 1, stale.stdout
    assert text_part(stale) == (
        f"PREVIEW_PUBLICATION WARNING - {SITE} {SUBCLUSTER} in {slapd.url}: 2 stale tags (not "
        f"verified here): {DTEAM} (retired), {OPS} (retired)"
    )
    assert counts(stale) == {"verified": "0", "published": "0", "pending": "0", "missing": "0",
                             "stale": "2"}  # fmt: skip


def test_a_tag_of_a_version_the_site_never_had_is_stale(site: Site, slapd: Slapd) -> None:
    ghost = "VO-dteam-PPS-ghost-2.0"
    slapd.add(with_rte_values(gip_ldif(site), [ghost]) + "\n" + glue2_entry(ghost))
    age(site, LONG_AGO)

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 1, proc.stdout
    assert text_part(proc) == (
        f"PREVIEW_PUBLICATION WARNING - {SITE} {SUBCLUSTER} in {slapd.url}: 1 stale tag (not "
        f"verified here): {ghost} (no state record)"
    )
    assert counts(proc)["published"] == "2"


def test_a_broken_version_published_as_broken_is_not_stale(
    site: Site, repo: Path, slapd_factory: Callable[..., Slapd]
) -> None:
    lagging = slapd_factory()
    lagging.add(gip_ldif(site))  # the verified version, as published before it broke
    add_release(repo, make_manifest(tests=[("fails", "false")]), replace=True)
    broke = run_probe(site, repo)
    assert broke.returncode == 2, broke.stdout
    current = slapd_factory()
    current.add(gip_ldif(site))  # GLUE 2.0 installedbroken, nothing in GLUE 1.3
    age(site, LONG_AGO)

    stale = run_plugin(site, lagging.url)
    ok = run_plugin(site, current.url)

    assert stale.returncode == 1, stale.stdout
    assert text_part(stale).endswith(f"2 stale tags (not verified here): {DTEAM} (broken), "
                                     f"{OPS} (broken)")  # fmt: skip
    assert ok.returncode == 0, ok.stdout
    assert text_part(ok).endswith("no verified preview version here, no stale tag")


# ------------------------------------------------------------------------ GLUE 1.3 vs GLUE 2.0


def test_glue_1_and_glue_2_disagreeing_is_a_warning(site: Site, slapd: Slapd) -> None:
    slapd.add(only_suffix(gip_ldif(site), "o=grid"))
    age(site, LONG_AGO)

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 1, proc.stdout
    assert text_part(proc) == (
        f"PREVIEW_PUBLICATION WARNING - {SITE} {SUBCLUSTER} in {slapd.url}: GLUE 1.3 and GLUE "
        f"2.0 disagree: {DTEAM} (GLUE 1.3 only), {OPS} (GLUE 1.3 only)"
    )


def test_glue_2_alone_is_a_disagreement_too(site: Site, slapd: Slapd) -> None:
    slapd.add(only_suffix(gip_ldif(site), "o=glue"))
    age(site, LONG_AGO)

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 1, proc.stdout
    assert text_part(proc).endswith(
        f"GLUE 1.3 and GLUE 2.0 disagree: {DTEAM} (GLUE 2.0 only), {OPS} (GLUE 2.0 only)"
    )


# -------------------------------------------------------------------------------- site file


def test_the_site_file_names_the_subcluster_the_directories_and_the_bdii(
    site: Site, slapd: Slapd
) -> None:
    slapd.add(gip_ldif(site))
    site.write_site_file(bdii=slapd.url, site=SITE)

    proc = run_plugin(site, None, flags=False)

    assert proc.returncode == 0, proc.stdout
    assert text_part(proc) == (
        f"PREVIEW_PUBLICATION OK - {SITE} {SUBCLUSTER} in {slapd.url}: 2 verified tags "
        "published (GLUE 1.3 and 2.0)"
    )


def test_the_bdii_flag_wins_over_the_site_file(site: Site, slapd: Slapd) -> None:
    site.write_site_file(bdii=f"ldap://127.0.0.1:{free_port()}")

    proc = run_plugin(site, slapd.url, flags=False)

    assert proc.returncode == 0, proc.stdout
    assert f" in {slapd.url}: " in text_part(proc)


@pytest.mark.parametrize(
    ("args", "site_file", "message"),
    [
        (["--bdii", "http://bdii.example.org:2170"], {},
         "--bdii 'http://bdii.example.org:2170' is not ldap://HOST:PORT (a site BDII: "
         "ldap://localhost:2170)"),
        (["--bdii", "ldap://bdii.example.org"], {},
         "--bdii 'ldap://bdii.example.org' is not ldap://HOST:PORT (a site BDII: "
         "ldap://localhost:2170)"),
        ([], {"bdii": "ldap://x:99999"},
         "site file {path}: 'bdii' 'ldap://x:99999' is not ldap://HOST:PORT (a site BDII: "
         "ldap://localhost:2170)"),
        ([], {"bdii": 2170}, "site file {path}: 'bdii' 2170 is not ldap://HOST:PORT (a site "
         "BDII: ldap://localhost:2170)"),
        ([], {"colour": "blue"}, "site file {path}: unknown key 'colour' (known: "),
        ([], {"subcluster": None}, "--subcluster is needed (the site file {path} has no "
         "'subcluster')"),
        (["--subcluster", "ce*)(objectClass=*"], {},
         "--subcluster: subcluster 'ce*)(objectClass=*' is not valid: use letters, digits, "
         "'.', '_' and '-' "
         "(a host name such as ce01.example.org)"),
        (["--grace", "soon"], {}, "usage: --grace: 'soon' is not a whole number of seconds "
         "(see --help)"),
        (["--timeout", "-1"], {}, "usage: --timeout: '-1' must be a positive number of seconds "
         "(see --help)"),
        (["extra"], {}, "usage: unexpected argument 'extra' (see --help)"),
    ],
    ids=["scheme", "no-port", "bad-port", "not-a-string", "unknown-key", "no-subcluster",
         "filter-metacharacters", "grace", "timeout", "argument"],
)  # fmt: skip
def test_bad_usage_or_site_file_is_unknown_in_one_line(
    tmp_path: Path, args: list[str], site_file: dict, message: str
) -> None:
    site = make_site(tmp_path)
    site.write_site_file(**site_file)

    proc = subprocess.run(
        [*plugin_command(), "--site-config", str(site.site_file), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert proc.returncode == 3, proc.stdout
    assert proc.stdout.startswith(
        "PREVIEW_PUBLICATION UNKNOWN - " + message.format(path=site.site_file)
    ), proc.stdout
    assert proc.stdout.count("\n") == 1
    assert proc.stderr == ""


def test_help_describes_the_plugin() -> None:
    proc = subprocess.run([*plugin_command(), "--help"], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip

    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("usage: check_preview_publication [-h] [--site-config FILE]")
    assert "--grace SECONDS" in proc.stdout
    assert "Design (" not in proc.stdout


# ------------------------------------------------------------------ unreachable and hostile


def test_a_refused_port_is_unknown_at_once(site: Site) -> None:
    url = f"ldap://127.0.0.1:{free_port()}"
    started = time.monotonic()

    proc = run_plugin(site, url, "--timeout", "10")

    assert proc.returncode == 3, proc.stdout
    assert status_line(proc) == (
        f"PREVIEW_PUBLICATION UNKNOWN - cannot reach the BDII {url}: connection refused"
    )
    assert time.monotonic() - started < 5


# A few BER encoders: just enough LDAP for the servers slapd would never be.


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _message(msgid: int, op: bytes) -> bytes:
    return _tlv(0x30, _tlv(0x02, msgid.to_bytes(msgid.bit_length() // 8 + 1, "big")) + op)


def _success(tag: int) -> bytes:
    return _tlv(tag, _tlv(0x0A, b"\x00") + _tlv(0x04, b"") + _tlv(0x04, b""))


def _entry(dn: str, attr: str, values: Iterator[bytes]) -> bytes:
    encoded = b"".join(b"\x04" + bytes([len(v)]) + v for v in values)  # short values only
    attribute = _tlv(0x30, _tlv(0x04, attr.encode()) + _tlv(0x31, encoded))
    return _tlv(0x64, _tlv(0x04, dn.encode()) + _tlv(0x30, attribute))


def _read_message(conn: socket.socket) -> tuple[int, int] | None:
    """``(message id, operation tag)`` of the next request, None when the client is gone."""
    head = conn.recv(2)
    if len(head) < 2:
        return None
    n = head[1]
    if n & 0x80:
        n = int.from_bytes(conn.recv(n & 0x7F), "big")
    body = b""
    while len(body) < n:
        chunk = conn.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    id_len = body[1]
    return int.from_bytes(body[2 : 2 + id_len], "big"), body[2 + id_len]


class FakeBdii:
    """A TCP server on 127.0.0.1 that binds anyone and answers every search with *answer(msgid)*
    (bytes, sent at *rate* bytes per 0.1 s when given); ``silent`` listens and never accepts."""

    def __init__(
        self,
        answer: Callable[[int], bytes] | None = None,
        *,
        silent: bool = False,
        rate: int = 0,
    ) -> None:
        self.answer = answer
        self.rate = rate
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"ldap://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        if not silent:
            self.thread = threading.Thread(target=self._serve, daemon=True)
            self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            try:
                while not self.stopping.is_set():
                    request = _read_message(conn)
                    if request is None or request[1] == 0x42:  # gone, or unbind
                        return
                    msgid, op = request
                    if op == 0x60:  # bind
                        conn.sendall(_message(msgid, _success(0x61)))
                    elif op == 0x63 and self.answer is not None:  # search
                        data = self.answer(msgid)
                        if not self.rate:
                            conn.sendall(data)
                            continue
                        for i in range(0, len(data), self.rate):
                            if self.stopping.is_set():
                                return
                            conn.sendall(data[i : i + self.rate])
                            time.sleep(0.1)
            except OSError:
                return  # the client hung up, as it should when it had enough

    def close(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def fake_bdii() -> Iterator[Callable[..., FakeBdii]]:
    servers: list[FakeBdii] = []

    def make(*args: object, **kwargs: object) -> FakeBdii:
        server = FakeBdii(*args, **kwargs)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def _subcluster_answer(values: Callable[[], Iterator[bytes]]) -> Callable[[int], bytes]:
    dn = f"GlueSubClusterUniqueID={SUBCLUSTER},GlueClusterUniqueID={SUBCLUSTER},o=grid"
    cache: dict[str, bytes] = {}

    def answer(msgid: int) -> bytes:
        if "entry" not in cache:
            cache["entry"] = _entry(dn, RTE, values())
        return _message(msgid, cache["entry"]) + _message(msgid, _success(0x65))

    return answer


def test_a_silent_bdii_is_unknown_within_the_timeout(
    site: Site, fake_bdii: Callable[..., FakeBdii]
) -> None:
    server = fake_bdii(silent=True)  # the kernel accepts the connection; nobody ever answers
    started = time.monotonic()

    proc = run_plugin(site, server.url, "--timeout", "3")

    took = time.monotonic() - started
    assert proc.returncode == 3, proc.stdout
    assert status_line(proc) == (
        f"PREVIEW_PUBLICATION UNKNOWN - the BDII {server.url} did not answer within 3 s"
    )
    assert took < 4.5


def test_a_bdii_that_trickles_its_answer_is_unknown_within_the_timeout(
    site: Site, fake_bdii: Callable[..., FakeBdii]
) -> None:
    answer = _subcluster_answer(lambda: (b"VO-dteam-PPS-x-%d" % i for i in range(1000)))
    server = fake_bdii(answer, rate=16)  # 160 bytes a second, each read well within a timeout
    started = time.monotonic()

    proc = run_plugin(site, server.url, "--timeout", "3")

    assert proc.returncode == 3, proc.stdout
    assert status_line(proc) == (
        f"PREVIEW_PUBLICATION UNKNOWN - the BDII {server.url} did not answer within 3 s"
    )
    assert time.monotonic() - started < 4.5


def test_a_million_values_are_not_read_beyond_the_limit(
    site: Site, fake_bdii: Callable[..., FakeBdii]
) -> None:
    answer = _subcluster_answer(lambda: (b"VO-dteam-PPS-x-1.%07d" % i for i in range(1_000_000)))
    server = fake_bdii(answer)
    started = time.monotonic()

    proc = run_plugin(site, server.url, "--timeout", "20")

    assert proc.returncode == 3, proc.stdout
    assert status_line(proc) == (
        f"PREVIEW_PUBLICATION UNKNOWN - the BDII {server.url} sent more than 8 MiB: not read "
        "(the limit; a site BDII answers this check in a few kB)"
    )
    assert time.monotonic() - started < 20


def test_a_flood_of_tiny_entries_is_cut_off_before_ldap3_decodes_it(
    site: Site, fake_bdii: Callable[..., FakeBdii]
) -> None:
    # 200,000 empty entries: 3 MB on the wire, some 500 MB once ldap3 has decoded them
    def answer(msgid: int) -> bytes:
        entry = _message(msgid, _tlv(0x64, _tlv(0x04, b"o=grid") + _tlv(0x30, b"")))
        return entry * 200_000 + _message(msgid, _success(0x65))

    server = fake_bdii(answer)

    proc = run_plugin(site, server.url, "--timeout", "20")

    assert proc.returncode == 3, proc.stdout
    assert status_line(proc) == (
        f"PREVIEW_PUBLICATION UNKNOWN - the BDII {server.url} sent more than 10116 entries: not "
        "read (the limit; a site BDII answers this check in a few kB)"
    )


def test_more_rte_values_than_the_limit_are_refused_with_the_limit_named(
    site: Site, slapd: Slapd
) -> None:
    slapd.add(with_rte_values(gip_ldif(site), [f"VO-dteam-PPS-many-{i}" for i in range(10_000)]))

    proc = run_plugin(site, slapd.url)

    assert proc.returncode == 3, proc.stdout
    assert status_line(proc) == (
        f"PREVIEW_PUBLICATION UNKNOWN - the BDII {slapd.url} holds more than 10000 "
        f"RunTimeEnvironment values for {SUBCLUSTER}: not checked (the limit is 10000)"
    )


def test_hostile_values_in_the_bdii_are_read_safely_and_keep_the_status_line_one_line(
    site: Site, slapd: Slapd
) -> None:
    hostile_rte = [
        '<script>alert("pwned")</script>',
        "VO-dteam-PPS-a-1)(|(objectClass=*",
        "a|b|c",
        'it\'s "quoted" \\ back',
        "VO-<b>|x-PPS-z-1",
        "VO-dteam-PPS-long-1." + "9" * 2000,  # a stale pps tag, far too long to show
    ]
    state = '<b>|broken\nCRITICAL - fake</b> ünï "q"'
    # the verified dteam tag's GLUE 2.0 entry says something hostile instead of its state
    ldif = with_glue2_state(with_rte_values(gip_ldif(site), hostile_rte), DTEAM, state)
    ldif += "\n" + glue2_entry("VO-dteam-PPS-ünï-1") + "\n" + glue2_entry("x|y\n<i>")
    slapd.add(ldif)
    age(site, LONG_AGO)

    proc = run_plugin(site, slapd.url)
    verbose = run_plugin(site, slapd.url, "-v")

    assert proc.returncode == 1, proc.stdout
    assert_one_clean_line(proc)
    assert text_part(proc) == (
        f"PREVIEW_PUBLICATION WARNING - {SITE} {SUBCLUSTER} in {slapd.url}: GLUE 1.3 and GLUE "
        f"2.0 disagree: {DTEAM} (GLUE 1.3 only, GLUE 2.0 says <b>/broken\\x0acritical - fake</b> "
        '\\xfcn\\xef "q"); 1 stale tag (not verified here): VO-dteam-PPS-long-1.'
        + "9" * 57
        + "... (no state record)"
    )
    assert counts(proc)["published"] == "1"
    assert verbose.returncode == 1
    lines = verbose.stdout.splitlines()
    assert lines[0] == text_part(proc)  # with long output, the perfdata goes last
    assert lines[-1].startswith("| missing=0;;;0 pending=0;;;0 published=1;;;0 stale=1;;;0 time=")
    assert all("|" not in line and all(" " <= ch <= "~" for ch in line) for line in lines[:-1])
    assert lines[-2] == "1 GlueSubCluster entry, 5 GLUE 2.0 tags, 6 other RTE values not judged"
