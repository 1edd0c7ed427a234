from __future__ import annotations

import textwrap

import pytest

from pps.classes import PartnerClass, UpdateClass
from pps.errors import ConfigError
from pps.inventory import load_config

GOOD_SITE = """
[[sites]]
name = "INFN-PISA"
partner = "silver"
vos = ["dteam", "vo.neugrid.eu"]
transport = "local"
root = "sites/pisa"
subcluster = "ce01.pi.infn.it"
"""


def _config(tmp_path, text):
    path = tmp_path / "pps.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_config_loads_with_paths_relative_to_the_file(tmp_path):
    cfg = load_config(_config(tmp_path, '[repository]\npath = "repo"\n' + GOOD_SITE))
    assert cfg.repository == tmp_path / "repo"
    assert cfg.state_path == tmp_path / "pps-state.sqlite"
    site = cfg.site("INFN-PISA")
    assert site.root == tmp_path / "sites/pisa"
    assert site.partner is PartnerClass.SILVER
    assert site.vos == ("dteam", "vo.neugrid.eu")
    assert site.preview_root == "/opt/pps/preview"
    assert site.cluster_id == "ce01.pi.infn.it"
    assert site.takes(UpdateClass.NBC_CLIENT) and not site.takes(UpdateClass.BC_SERVER)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[repository]\npath = "r"\ncolour = "red"\n', "unknown key 'colour' in \\[repository\\]"),
        ('[repository]\npath = "r"\n[extras]\n', "unknown section 'extras'"),
        ("[state]\n", "\\[repository\\] needs 'path'"),
        ('[repository]\npath = "r"\n' + GOOD_SITE.replace('subcluster = "ce01.pi.infn.it"\n', ""),
         "site 'INFN-PISA' is missing the field 'subcluster'"),
        ('[repository]\npath = "r"\n' + GOOD_SITE.replace('root = "sites/pisa"', 'host = "x"'),
         "unknown key 'host' \\(not used with transport 'local'\\)"),
        ('[repository]\npath = "r"\n' + GOOD_SITE.replace('"silver"', '"bronze"'),
         "partner class 'bronze' is not one of"),
        ('[repository]\npath = "r"\n' + GOOD_SITE.replace('"dteam", ', '"D Team", '),
         "VO name 'D Team'"),
        ('[repository]\npath = "r"\n' + GOOD_SITE + GOOD_SITE, "'INFN-PISA' is listed twice"),
        ('[repository]\npath = "r"\n' + GOOD_SITE.replace('"INFN-PISA"', '"<b>x</b>"'),
         "site name '<b>x</b>' is not valid"),
        ('[repository]\npath = "r"\n' + GOOD_SITE + 'preview_root = "relative/p"\n',
         "'preview_root' must be an absolute path"),
        ("[repository\n", "not valid TOML"),
    ],
    ids=["unknown-key", "unknown-section", "no-repo", "missing-field", "ssh-key-on-local",
         "bad-partner", "bad-vo", "duplicate", "html-name", "relative-site-path", "bad-toml"],
)  # fmt: skip
def test_bad_configs_fail_with_one_line_naming_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_config(_config(tmp_path, text))
    assert "\n" not in str(err.value)


def test_ssh_site_needs_its_connection_fields(tmp_path):
    site = GOOD_SITE.replace(
        'transport = "local"\nroot = "sites/pisa"', 'transport = "ssh"\nhost = "h"'
    )
    with pytest.raises(ConfigError, match="missing the field 'user' \\(transport 'ssh'\\)"):
        load_config(_config(tmp_path, '[repository]\npath = "r"\n' + site))


def test_missing_config_file_says_how_to_give_one(tmp_path):
    with pytest.raises(ConfigError, match="PPS_CONFIG"):
        load_config(tmp_path / "nope.toml")
