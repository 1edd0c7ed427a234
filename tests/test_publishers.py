"""probes._publish: the publishers behind one interface, driven by one decision.

A version is announced by every publisher the site names or by none: the tags file, the ARC RTE
(real arcctl) and the HTCondor snippet agree after every publish and every withdrawal, also when
one of them fails on the way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pps.names import PREVIEW_CAPABILITY
from probes import _tagsfile
from probes._condor import CondorPublisher
from probes._publish import (
    DEFAULT_PUBLISH,
    KINDS,
    TagsPublisher,
    check_publish,
    each,
    publishers,
    uninstall,
)
from probes._safefs import UnsafePath
from probes._siteconfig import SiteConfigError
from tests import arc_helpers
from tests.arc_helpers import ArcSite

arc_site = arc_helpers.arc_site

SC = "ce01.example.org"
TAG = "VO-dteam-PPS-glite-UI-3.2.8-0"
NAME = "ENV/PPS/GLITE-UI-3.2.8-0"


def test_check_publish_accepts_the_known_kinds_in_their_order() -> None:
    assert check_publish(["condor", "tags", "arc-rte"]) == KINDS
    assert check_publish(["arc-rte", "arc-rte"]) == ("arc-rte",)
    assert DEFAULT_PUBLISH == ("tags",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "must be a non-empty list"),
        ("tags", "must be a non-empty list"),
        (["tags", "cvmfs"], "'cvmfs' is not a publisher"),
        ([1], "1 is not a publisher"),
    ],
)
def test_check_publish_refuses_anything_else_in_one_line(value: object, message: str) -> None:
    with pytest.raises(SiteConfigError, match=message):
        check_publish(value)


def test_the_tags_publisher_makes_the_edits_a_tags_only_run_makes(tmp_path: Path) -> None:
    pub = TagsPublisher(str(tmp_path), SC)

    assert pub.publish("glite-UI", "3.2.8-0", ["dteam", "ops"]) is True
    assert _tagsfile.read_tags(tmp_path, SC, "dteam") == [TAG, PREVIEW_CAPABILITY]
    assert [(p.component, p.version, p.name) for p in pub.owned()] == [
        ("glite-UI", "3.2.8-0", TAG),
        ("glite-UI", "3.2.8-0", "VO-ops-PPS-glite-UI-3.2.8-0"),
    ]

    assert pub.withdraw("glite-UI", "3.2.8-0", ["dteam", "Not A VO"]) is True
    assert _tagsfile.read_tags(tmp_path, SC, "dteam") == [PREVIEW_CAPABILITY]
    assert _tagsfile.read_tags(tmp_path, SC, "ops") == ["VO-ops-PPS-glite-UI-3.2.8-0",
                                                        PREVIEW_CAPABILITY]  # fmt: skip


class Site:
    """A site publishing all three ways: tags file, ARC-CE, HTCondor execute node."""

    def __init__(self, tmp: Path, arc: ArcSite) -> None:
        self.arc = arc
        self.info = tmp / "info"
        self.config_d = tmp / "config.d"
        self.config_d.mkdir()
        self.root = tmp / "preview"
        self.root.mkdir()
        self.pubs = publishers(
            KINDS,
            info_dir=str(self.info),
            subcluster=SC,
            preview_root=str(self.root),
            arc_conf=str(arc.conf),
            condor_config=str(self.config_d / "55-pps-rte.conf"),
        )

    def says(self) -> tuple[bool, bool, bool]:
        """Whether the tags file, the ARC-CE and the pool announce glite-UI 3.2.8-0."""
        tags = _tagsfile.read_tags(self.info, SC, "dteam")
        condor = CondorPublisher(str(self.config_d / "55-pps-rte.conf"), self.root, reconfig="")
        return (
            TAG in tags,
            NAME in self.arc.enabled(),
            TAG in condor.advertised(),
        )


def test_every_publisher_says_the_same_after_publish_and_withdraw(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    site = Site(tmp_path, arc_site)
    assert [p.kind for p in site.pubs] == list(KINDS)

    assert each(site.pubs, "publish", "glite-UI", "3.2.8-0", ["dteam"]) is True
    assert site.says() == (True, True, True)

    assert each(site.pubs, "withdraw", "glite-UI", "3.2.8-0", ["dteam"]) is True
    assert site.says() == (False, False, False)

    each(site.pubs, "publish", "glite-UI", "3.2.8-0", ["dteam"])
    assert each(site.pubs, "retire", "glite-UI", "3.2.8-0", ["dteam"]) is True
    assert site.says() == (False, False, False)
    assert [p for pub in site.pubs for p in pub.owned()] == []


def test_a_failing_publisher_does_not_stop_the_others_withdrawing(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    site = Site(tmp_path, arc_site)
    each(site.pubs, "publish", "glite-UI", "3.2.8-0", ["dteam"])
    # the tags file turns into a link to some other file: the tags publisher refuses it
    tags_file = _tagsfile.tags_file(site.info, SC, "dteam")
    other = tmp_path / "other"
    other.write_bytes(tags_file.read_bytes())
    tags_file.unlink()
    tags_file.symlink_to(other)

    with pytest.raises(UnsafePath, match="symbolic link"):
        each(site.pubs, "withdraw", "glite-UI", "3.2.8-0", ["dteam"])

    assert NAME not in arc_site.enabled()
    condor = CondorPublisher(str(site.config_d / "55-pps-rte.conf"), site.root, reconfig="")
    assert TAG not in condor.advertised()


def test_a_publication_is_all_or_nothing(tmp_path: Path, arc_site: ArcSite) -> None:
    site = Site(tmp_path, arc_site)
    arc_site.write_rte(NAME, "# description: the site's own\n")  # ARC refuses to touch it

    with pytest.raises(UnsafePath, match="not written by pps"):
        each(site.pubs, "publish", "glite-UI", "3.2.8-0", ["dteam"])

    # the tags file was written first (the order of KINDS): taken back again
    assert site.says() == (False, False, False)
    assert _tagsfile.read_tags(site.info, SC, "dteam") == [PREVIEW_CAPABILITY]


def test_only_the_named_publishers_are_imported() -> None:
    code = (
        "import sys, json\nfrom probes._publish import publishers\n"
        "publishers(['tags'], info_dir='/nonexistent', subcluster='ce', preview_root='/p')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('probes.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    loaded = set(json.loads(out.stdout))
    assert "probes._arc_rte" not in loaded and "probes._condor" not in loaded


def test_a_withdrawal_for_some_vos_only_leaves_the_arc_rte_enabled(
    tmp_path: Path, arc_site: ArcSite
) -> None:
    site = Site(tmp_path, arc_site)
    each(site.pubs, "publish", "glite-UI", "3.2.8-0", ["dteam", "ops"])

    # the site file dropped ops: its tag goes everywhere, the version stays verified
    each(site.pubs, "withdraw", "glite-UI", "3.2.8-0", ["ops"], whole=False)

    assert site.says() == (True, True, True)
    assert "VO-ops-PPS-glite-UI-3.2.8-0" not in _tagsfile.read_tags(site.info, SC, "ops")
    condor = CondorPublisher(str(site.config_d / "55-pps-rte.conf"), site.root, reconfig="")
    assert "VO-ops-PPS-glite-UI-3.2.8-0" not in condor.advertised()


def test_uninstall_takes_back_every_rte_and_the_snippet(tmp_path: Path, arc_site: ArcSite) -> None:
    site = Site(tmp_path, arc_site)
    for version in ("3.2.8-0", "3.2.9-0"):
        each(site.pubs, "publish", "glite-UI", version, ["dteam"])
    theirs = arc_site.write_rte("ENV/SITE/TOOLS-1.0", "# description: the site's\n")
    arc_site.arcctl("rte", "enable", "ENV/SITE/TOOLS-1.0")

    said = uninstall(site.pubs)

    assert said == [
        "arc-rte: withdrew ENV/PPS/GLITE-UI-3.2.8-0, ENV/PPS/GLITE-UI-3.2.9-0",
        "condor: withdrew VO-dteam-PPS-glite-UI-3.2.8-0, VO-dteam-PPS-glite-UI-3.2.9-0",
    ]
    assert arc_site.enabled() == ["ENV/SITE/TOOLS-1.0"] and theirs.exists()
    assert not (site.config_d / "55-pps-rte.conf").exists()
    assert uninstall(site.pubs) == []
