"""The probe's decisions as pure functions, on tables of cases: what a run's tests mean for the
version's status and its tag (probes._converge), and what the publication check makes of the
site's tags against the BDII's (probes._pubcheck_verdict.judge)."""

from __future__ import annotations

import pytest

from probes._bdii import Published
from probes._converge import Decision, carried_over, decide
from probes._extract import UnsafeArchive, _Member, allowed_path
from probes._pubcheck_verdict import Expected, SiteView, Unverified, judge
from probes._records import BROKEN, UNTESTED, VERIFIED
from probes._run import INCOMPLETE, INCOMPLETE_LIMIT

assert INCOMPLETE_LIMIT == 2  # the tables below spell the limit out

DECIDE = [
    # was_verified, incomplete runs so far, a test failed, a test timed out -> decision
    (False, 0, False, False, Decision(VERIFIED, 0, VERIFIED, "publish")),
    (True, 1, False, False, Decision(VERIFIED, 0, VERIFIED, "publish")),
    (True, 0, True, False, Decision(BROKEN, 0, BROKEN, "withdraw")),
    (True, 1, True, True, Decision(BROKEN, 0, BROKEN, "withdraw")),  # failing beats timing out
    (True, 0, False, True, Decision(VERIFIED, 1, INCOMPLETE, "keep")),  # once: the tag stays
    (True, 1, False, True, Decision(UNTESTED, 2, INCOMPLETE, "withdraw")),  # twice in a row
    (False, 0, False, True, Decision(UNTESTED, 1, INCOMPLETE, "withdraw")),  # nothing to keep
]


@pytest.mark.parametrize(("was_verified", "incomplete", "failed", "timed_out", "expected"), DECIDE)
def test_what_the_tests_mean_for_the_status_and_the_tag(
    was_verified: bool, incomplete: int, failed: bool, timed_out: bool, expected: Decision
) -> None:
    assert decide(was_verified, incomplete, failed, timed_out) == expected


CARRIED = [
    # status in the record, incomplete runs, the previous run killed while testing -> stands, n
    (VERIFIED, 0, False, (True, 0)),
    (VERIFIED, 0, True, (True, 1)),
    (VERIFIED, 1, True, (False, 2)),  # the second incomplete run in a row: the verdict is gone
    (VERIFIED, 2, False, (False, 2)),
    (UNTESTED, 0, False, (False, 0)),
    (BROKEN, 0, True, (False, 1)),
]


@pytest.mark.parametrize(("status", "incomplete", "killed", "expected"), CARRIED)
def test_whether_an_earlier_verdict_still_stands_before_the_tests(
    status: str, incomplete: int, killed: bool, expected: tuple[bool, int]
) -> None:
    assert carried_over(status, incomplete, killed) == expected


TAG = "VO-dteam-PPS-client-1.0"
KEY = TAG.casefold()
OLD = "VO-dteam-PPS-client-0.9"
GRACE = 600
NOW = 100_000.0


class _Settings:
    grace = GRACE


def _site(expected_since: float | None = None, stale: bool = False) -> SiteView:
    view = SiteView()
    if expected_since is not None:
        view.expected[KEY] = Expected(TAG, expected_since, True)
        view.in_files[KEY] = expected_since
    if stale:
        view.unverified[OLD.casefold()] = Unverified(OLD, "retired", "dteam", NOW - 2 * GRACE)
    return view


def _published(glue1: list[str], glue2: dict[str, str]) -> Published:
    p = Published()
    p.glue1 = {t.casefold(): t for t in glue1}
    p.glue1_entries = 1
    p.glue2 = {t.casefold(): (t, {state}) for t, state in glue2.items()}
    return p


LIVE = "installedverified"
JUDGED = [
    # the site, the BDII -> (published, pending, missing, disagree, stale) counts
    ("published in both", _site(NOW - 5000), _published([TAG], {TAG: LIVE}), (1, 0, 0, 0, 0)),
    ("new, within the grace", _site(NOW - 10), _published([], {}), (0, 1, 0, 0, 0)),
    ("late in both", _site(NOW - 5000), _published([], {}), (0, 0, 1, 0, 0)),
    ("GLUE 1.3 only", _site(NOW - 5000), _published([TAG], {}), (0, 0, 0, 1, 0)),
    ("GLUE 2.0 broken", _site(NOW - 5000), _published([], {TAG: "installedbroken"}),
     (0, 0, 1, 0, 0)),
    ("stale after the grace", _site(stale=True), _published([OLD], {}), (0, 0, 0, 0, 1)),
    ("a tag pps could not have written", _site(), _published(["GLITE-3_2_0"], {}),
     (0, 0, 0, 0, 0)),
]  # fmt: skip


@pytest.mark.parametrize(("site", "bdii", "counts"), [c[1:] for c in JUDGED],
                         ids=[c[0] for c in JUDGED])  # fmt: skip
def test_the_publication_verdict(site: SiteView, bdii: Published, counts: tuple) -> None:
    v = judge(site, bdii, _Settings(), NOW)  # type: ignore[arg-type]
    got = (len(v.published), len(v.pending), len(v.missing), len(v.disagree), len(v.stale))
    assert got == counts


def _member(name: str, kind: bytes = b"0", mode: int = 0o644, sparse: bool = False) -> _Member:
    return _Member(kind, name, 0, mode, 0, b"", sparse)


ALLOWED = [
    ("a/b.txt", b"0", 0o644, False, ("a", "b.txt")),
    ("./a/", b"5", 0o755, False, ("a",)),
    ("./", b"5", 0o755, False, ()),  # the root itself
    ("bin/x", b"2", 0o777, False, ("bin", "x")),  # a symbolic link (its target checked later)
]
REFUSED = [
    ("/etc/passwd", b"0", 0o644, False, "is an absolute path"),
    ("a/../../b", b"0", 0o644, False, "leaves the tree"),
    ("a", b"0", 0o644, True, "is a sparse file"),
    ("a", b"1", 0o644, False, "is a hard link"),
    ("a", b"3", 0o644, False, "is a device"),
    ("a", b"6", 0o644, False, "is a FIFO"),
    ("a", b"Z", 0o644, False, "an unsupported member type"),
    ("a", b"0", 0o4755, False, "setuid, setgid or sticky"),
    ("a", b"5", 0o1777, False, "setuid, setgid or sticky"),
]


@pytest.mark.parametrize(("name", "kind", "mode", "sparse", "parts"), ALLOWED)
def test_the_refusal_policy_lets_plain_members_through(name, kind, mode, sparse, parts) -> None:
    assert allowed_path(_member(name, kind, mode, sparse), "t.tgz") == parts


@pytest.mark.parametrize(("name", "kind", "mode", "sparse", "why"), REFUSED)
def test_the_refusal_policy_refuses_naming_the_member(name, kind, mode, sparse, why) -> None:
    with pytest.raises(UnsafeArchive, match=why) as e:
        allowed_path(_member(name, kind, mode, sparse), "t.tgz")
    assert str(e.value).startswith("unsafe tarball t.tgz: ")
