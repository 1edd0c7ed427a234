from __future__ import annotations

import json

import pytest

from pps.errors import AlreadyExists, BadInput, NotFound
from pps.repository import Index, Release, Repository, release_dir, with_stage

SHA = "a" * 64


def _release(version="3.2.8-0", **kw):
    base = dict(
        component="glite-UI",
        version=version,
        stage="unverified",
        tarball=f"unverified/glite-UI/{version}/glite-UI-{version}.tar.gz",
        sha256=SHA,
        size=10,
        update_class="bc-client",
        release_type="revision",
    )
    return Release(**{**base, **kw})


def test_index_round_trips_and_keeps_unknown_fields(tmp_path):
    repo = Repository(tmp_path)
    idx = Index([_release(extra={"future_field": [1, 2]})], extra={"mirror": "x"})
    repo.save(idx)
    data = json.loads((tmp_path / "index.json").read_text())
    assert data["format"] == "pps-index/1"
    assert data["mirror"] == "x"
    assert data["releases"][0]["future_field"] == [1, 2]
    again = repo.load()
    assert again.releases == idx.releases
    assert again.releases[0].extra == {"future_field": [1, 2]}


def test_missing_index_is_an_empty_repository(tmp_path):
    assert Repository(tmp_path / "nowhere").load().releases == []


def test_find_names_known_versions_when_the_version_is_unknown():
    idx = Index([_release("1.0"), _release("2.0")])
    with pytest.raises(
        NotFound, match=r"no release glite-UI 3\.0 .*known versions of glite-UI: 1\.0, 2\.0"
    ):
        idx.find("glite-UI", "3.0")


def test_find_names_known_components_when_the_component_is_unknown():
    with pytest.raises(NotFound, match=r"no component 'arc' .*known components: glite-UI"):
        Index([_release()]).find("arc", "1.0")


def test_existing_release_is_never_overwritten():
    idx = Index([_release()])
    with pytest.raises(AlreadyExists, match="already exists"):
        idx.add(_release(sha256="b" * 64))
    assert idx.releases[0].sha256 == SHA


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sha256", "xyz", "sha256"),
        ("tarball", "/etc/passwd", "relative"),
        ("tarball", "unverified/../../x", "relative"),
        ("stage", "beta", "stage"),
        ("size", -1, "size"),
    ],
)
def test_bad_index_entries_are_refused_with_the_field_named(field, value, message):
    with pytest.raises(BadInput, match=message):
        _release(**{field: value})


def test_invalid_index_json_names_the_file(tmp_path):
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(BadInput, match=r"index\.json is not valid JSON"):
        Repository(tmp_path).load()


def test_with_stage_moves_paths_to_the_new_stage_directory():
    moved = with_stage(_release(), "staged-rollout")
    assert moved.stage == "staged-rollout"
    assert moved.tarball == "staged-rollout/glite-UI/3.2.8-0/glite-UI-3.2.8-0.tar.gz"


def test_release_dir_refuses_unknown_stages():
    with pytest.raises(BadInput, match="stage 'tmp'"):
        release_dir("tmp", "a", "1")


def test_an_index_whose_releases_would_publish_the_same_tags_is_refused():
    idx = Index([_release("1.0"), _release("2.0")])
    data = json.loads(idx.to_json())
    data["releases"][1].update(component="GLITE-ui", version="1.0")

    with pytest.raises(BadInput, match=r"glite-UI 1\.0 and GLITE-ui 1\.0 would publish the same"):
        Index.from_json(json.dumps(data))


def test_a_negative_serial_is_refused():
    with pytest.raises(BadInput, match=r"serial -1 is not a whole number >= 0"):
        Index.from_json('{"format": "pps-index/1", "serial": -1, "releases": []}')
