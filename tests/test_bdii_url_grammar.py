"""One grammar of a BDII URL (pps.publication.parse_ldap_url), in every place that takes one:
the core, the site file the probes read, check_preview_publication's --bdii, the Nagios
configuration's --bdii."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributor.nagios import check_bdii_url as nagios_bdii_url
from pps.errors import BadInput
from pps.publication import parse_ldap_url
from probes._pubcheck_settings import bdii_host_port as publication_bdii_url
from probes._siteconfig import check_values


def _site_file(value: str) -> None:
    check_values({"bdii": value})


PLACES = {
    "core": lambda v: parse_ldap_url(v, schemes=("ldap",), port_required=True),
    "site-file": _site_file,
    "publication": publication_bdii_url,
    "nagios": nagios_bdii_url,
}

REFUSED = [
    "ldap://x:99999",  # not a TCP port
    "ldap://x:0",
    "ldap://-bad:2170",  # a host starting with '-'
    "ldap://bad-:2170",
    "ldap://a..b:2170",
    "ldap://a_b:2170",
    "ldap://:2170",
    "ldap://x:2170/o=grid",
    "ldap://u@x:2170",
    "ldap://x:2170 ",
    "http://x:2170",
]
ACCEPTED = ["ldap://bdii.example.org:2170", "ldap://127.0.0.1:2170", "ldap://[::1]:2170",
            "ldap://localhost:2170/", "ldap://a-b.c:65535"]  # fmt: skip


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("url", REFUSED)
def test_a_bad_bdii_url_is_refused_in_every_place(place: str, url: str) -> None:
    with pytest.raises(BadInput):
        PLACES[place](url)


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("url", ACCEPTED)
def test_a_good_bdii_url_is_taken_in_every_place(place: str, url: str) -> None:
    PLACES[place](url)


def _verdict(check, value: str) -> bool:
    try:
        check(value)
    except BadInput:
        return False
    return True


URLISH = st.builds(
    lambda host, port, tail: f"ldap://{host}:{port}{tail}",
    st.text(alphabet="ab-._[]:1&", min_size=0, max_size=12),
    st.one_of(st.integers(-5, 100_000).map(str), st.text(alphabet="0123456789+x ", max_size=6)),
    st.sampled_from(["", "/", "/x", "?q"]),
)


#: The core's grammar each place applies: the probes want the port named, the Nagios
#: configuration takes the default port (it writes the URL out whole).
CORE_OF = {
    "site-file": PLACES["core"],
    "publication": PLACES["core"],
    "nagios": lambda v: parse_ldap_url(v, schemes=("ldap",)),
}


@given(URLISH)
def test_every_place_agrees_with_the_core_on_any_url(url: str) -> None:
    assert {p: _verdict(PLACES[p], url) for p in CORE_OF} == {
        p: _verdict(core, url) for p, core in CORE_OF.items()
    }
