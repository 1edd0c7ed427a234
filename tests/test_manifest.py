from __future__ import annotations

import pytest

from pps.errors import BadInput
from pps.manifest import LocalTest, Manifest


def _manifest(**kw):
    base = dict(component="glite-UI", version="3.2.8-0", update_class="bc-client",
                release_type="revision", tests=(LocalTest("v", "tool --version", 30),))  # fmt: skip
    return Manifest(**{**base, **kw})


def test_manifest_round_trips_through_json():
    m = _manifest(setup="etc/env.sh")
    again = Manifest.from_json(m.to_json())
    assert again == m
    assert again.tests[0].timeout == 30


def test_manifest_json_is_canonical():
    assert _manifest().to_json() == _manifest().to_json()
    assert b'"format": "pps-manifest/1"' in _manifest().to_json()


def test_nbc_client_always_requires_site_configuration():
    assert _manifest(update_class="nbc-client").requires_site_config is True
    assert _manifest().requires_site_config is False


@pytest.mark.parametrize("setup", ["/etc/profile", "../x.sh", "a/../../b"])
def test_setup_script_must_stay_inside_the_tree(setup):
    with pytest.raises(BadInput, match="setup script"):
        _manifest(setup=setup)


def test_duplicate_test_names_are_refused():
    with pytest.raises(BadInput, match="test name 'v' is used twice"):
        _manifest(tests=(LocalTest("v", "true"), LocalTest("v", "false")))


@pytest.mark.parametrize(
    ("option", "message"),
    [("novalue", "NAME=COMMAND"), ("bad name=true", "test name"), ("x=", "empty command")],
)
def test_test_option_errors_name_the_problem(option, message):
    with pytest.raises(BadInput, match=message):
        LocalTest.parse_option(option)


@pytest.mark.parametrize("timeout", [0, -1, 99999, "10", True])
def test_test_timeout_must_be_a_sane_number_of_seconds(timeout):
    with pytest.raises(BadInput, match="timeout"):
        LocalTest("t", "true", timeout)


def test_manifest_missing_field_is_named():
    with pytest.raises(BadInput, match="missing the field 'version'"):
        Manifest.from_json('{"format": "pps-manifest/1", "component": "x"}')


def test_unknown_manifest_format_is_refused():
    with pytest.raises(BadInput, match="format"):
        Manifest.from_json('{"format": "other/9"}')
