"""Builders for the bulletin tests: releases, sites and the LDIF a site publishes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pps.classes import PartnerClass
from pps.glue import STATE_VERIFIED, PublishedTag, write_site_ldif
from pps.inventory import Site
from pps.names import PREVIEW_CAPABILITY, version_tag
from pps.repository import Index, Release, release_dir, tarball_name
from tests.realparts import require

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
GENERATED = datetime(2010, 6, 1, 12, 0, 0, tzinfo=timezone.utc)


def release(component: str, version: str, **overrides: object) -> Release:
    stage = str(overrides.pop("stage", "staged-rollout"))
    fields: dict[str, object] = {
        "tarball": f"{release_dir(stage, component, version)}/{tarball_name(component, version)}",
        "sha256": (component + version).encode().hex().ljust(64, "0")[:64],
        "size": 1024,
        "update_class": "bc-client",
        "release_type": "minor",
        "created": "2010-05-20T09:30:00Z",
    }
    fields.update(overrides)
    return Release(component=component, version=version, stage=stage, **fields)  # type: ignore[arg-type]


def site(name: str, partner: str = "none", vos: tuple[str, ...] = ("dteam",)) -> Site:
    return Site(
        name=name,
        partner=PartnerClass.parse(partner),
        vos=vos,
        transport="local",
        subcluster=f"ce01.{name.lower()}.example.org",
    )


@dataclass(frozen=True)
class LooseSite:
    """A site as any caller may hand it over: only name, partner and VOs."""

    name: str
    partner: str
    vos: tuple[str, ...]


def ldif(
    site_name: str, *tags: str | tuple[str, str], capability: bool = True, extra: str = ""
) -> str:
    """LDIF a site publishes: each tag is a tag (verified) or (tag, GLUE 2.0 state)."""
    published = [PublishedTag(PREVIEW_CAPABILITY, STATE_VERIFIED)] if capability else []
    for t in tags:
        tag, state = (t, STATE_VERIFIED) if isinstance(t, str) else t
        published.append(PublishedTag(tag, state))
    text = write_site_ldif(
        site=site_name,
        cluster=f"ce01.{site_name.lower()}.example.org",
        subcluster=f"ce01.{site_name.lower()}.example.org",
        tags=published,
    )
    return text + extra


def tag(vo: str, component: str, version: str) -> str:
    return version_tag(vo, component, version)


def index(*releases: Release) -> Index:
    return Index(list(releases))


def chromium_or_skip() -> str:
    """The chromium binary; skip without it, but fail under CI (CI=true), never skip there."""
    return require(CHROMIUM, "chromium")
