"""A small local grid for CLI tests: sites as directories, a pps.toml, and the CLI runner."""

from __future__ import annotations

import json
import stat
import textwrap
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from distributor.cli import cli

SITES = {
    # name: (partner, vos, has configuration hook)
    "ALPHA": ("none", ["dteam"], False),
    "BRAVO": ("silver", ["dteam", "vo.neugrid.eu"], True),
    "CHARLIE": ("silver", ["dteam"], False),
    "DELTA": ("gold", ["ops"], False),
}


def write(path: Path, text: str, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@dataclass
class Grid:
    root: Path
    config: Path

    def site_root(self, name: str) -> Path:
        return self.root / "sites" / name

    def tags(self, site: str, vo: str) -> list[str]:
        sc = f"ce.{site.lower()}.test"
        path = self.site_root(site) / "opt/glite/var/info" / sc / vo / f"{vo}.list"
        if not path.exists():
            return []
        return path.read_text().split()

    def install_dir(self, site: str, component: str, version: str) -> Path:
        return self.site_root(site) / "opt/pps/preview" / component / version

    def invoke(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(self.config), *args])

    def ok(self, *args: str) -> str:
        """The output of ``pps ARGS``, which must succeed."""
        result = self.invoke(*args)
        assert result.exit_code == 0, result.output
        return result.output

    def source(self, name: str, *, version_text: str = "1.0", tests: str = "") -> Path:
        """A client source tree whose tool prints *version_text*, with an optional tests file."""
        src = self.root / "src" / name
        write(src / "bin/tool", f'#!/bin/sh\necho "tool {version_text}"\n', executable=True)
        if tests:
            write(src / "pps-tests.toml", tests)
        return src

    def map_json(self, out: Path) -> dict:
        return json.loads((out / "map.json").read_text())


def make_grid(tmp_path: Path) -> Grid:
    root = tmp_path / "grid"
    lines = ['[repository]\npath = "repo"\n']
    for name, (partner, vos, hook) in SITES.items():
        site = root / "sites" / name
        write(site / "etc/profile.d/grid.sh", f'export SITE_NAME="{name}"\n')
        (site / "opt/glite/var/info").mkdir(parents=True)
        if hook:
            write(
                site / "opt/pps/preview/hooks/configure",
                '#!/bin/sh\nset -e\nmkdir -p "$1/etc"\necho configured > "$1/etc/site.conf"\n',
                executable=True,
            )
        vo_list = ", ".join(f'"{v}"' for v in vos)
        lines.append(
            textwrap.dedent(f"""\
            [[sites]]
            name = "{name}"
            partner = "{partner}"
            vos = [{vo_list}]
            transport = "local"
            root = "sites/{name}"
            subcluster = "ce.{name.lower()}.test"
            preview_root = "/opt/pps/preview"
            info_dir = "/opt/glite/var/info"
            profile_d = "/etc/profile.d"
            """)
        )
    config = write(root / "pps.toml", "\n".join(lines))
    from distributor.repository.signing import init_repository
    from pps.repository import Repository

    init_repository(Repository(root / "repo"), None)
    return Grid(root, config)
