from __future__ import annotations

import json
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


REPO = '[repository]\npath = "r"\n'
NOT_IN_URL = "is not allowed (use letters, digits and -._~/+% in its path)"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://pps.example.org/repo?a=1&b=2",
         "a query ('?') has no place in it: the probe reads index.json and the tarballs below "
         "the URL, which names the repository's directory (https://HOST[:PORT]/PATH)"),
        ("https://pps.example.org/repo#top",
         "a fragment ('#') has no place in it: the probe reads index.json and the tarballs below "
         "the URL, which names the repository's directory (https://HOST[:PORT]/PATH)"),
        ("https://pps.example.org/repo>/tmp/x",
         "'>' " + NOT_IN_URL),
        ("https://pps.example.org/repo|id", "'|' " + NOT_IN_URL),
        ("https://pps.example.org/re$(id)po", "'$' " + NOT_IN_URL),
        ("https://pps.example.org/re`id`po", "'`' " + NOT_IN_URL),
        ("https://pps.example.org/repo\n", "'\\n' " + NOT_IN_URL),
        ("https://pps.example.org/re;po", "';' " + NOT_IN_URL),
        ("https://pps.example.org/re\uff06po",
         "'\uff06' " + NOT_IN_URL),
        ("/srv/pps repo", "' ' " + NOT_IN_URL),
        ("/srv/pps&repo", "'&' " + NOT_IN_URL),
        ("https://me:secret@pps.example.org/repo",
         "it must not carry a user or password (every site's Nagios shows it)"),
        ("https://pps.exa&mple.org/repo",
         "host 'pps.exa&mple.org' is not a host name or IP address"),
        ("https://pps.example.org:99999/repo", "Port out of range 0-65535"),
        ("https://pps.example.org/re%zzpo", "a '%' in its path must start an escape such as %20"),
        ("ftp://pps.example.org/repo",
         "use https://HOST[:PORT]/PATH, http://HOST[:PORT]/PATH (for sites that pin the signing "
         "key) or an absolute directory"),
        ("-https://pps.example.org/repo",
         "use https://HOST[:PORT]/PATH, http://HOST[:PORT]/PATH (for sites that pin the signing "
         "key) or an absolute directory"),
        ("repo", "use https://HOST[:PORT]/PATH, http://HOST[:PORT]/PATH (for sites that pin the "
                 "signing key) or an absolute directory"),
    ],
    ids=["query", "fragment", "redirect", "pipe", "subshell", "backticks", "newline", "semicolon",
         "fullwidth", "space-in-directory", "ampersand-in-directory", "userinfo", "bad-host",
         "bad-port", "bad-escape", "ftp", "leading-dash", "relative"],
)  # fmt: skip
def test_a_repository_url_outside_its_grammar_is_refused_when_the_config_loads(
    tmp_path, url, reason
):
    path = _config(tmp_path, REPO.replace('"r"\n', f'"r"\nurl = {json.dumps(url)}\n'))

    with pytest.raises(ConfigError) as err:
        load_config(path)

    assert str(err.value) == f"{path}: [repository] url {url!r} is not valid: {reason}"


@pytest.mark.parametrize(
    "url",
    ["https://pps.example.org/repo", "http://10.0.0.1:8080/pps/repo/", "/srv/pps/repo",
     "https://[2001:db8::1]/repo", "https://pps.example.org/~pps/my%20repo", "https://h"],
)  # fmt: skip
def test_a_repository_url_in_its_grammar_loads_unchanged(tmp_path, url):
    path = _config(tmp_path, REPO.replace('"r"\n', f'"r"\nurl = {json.dumps(url)}\n'))

    assert load_config(path).repository_url == url


@pytest.mark.parametrize(
    "host", ["ui.pi;infn.it", "ui\n.pi.infn.it", "-oProxyCommand=x", "ui pi", "ui.\uff50i.it",
             "a" * 64 + ".example.org", "ui..infn.it"],
)  # fmt: skip
def test_an_ssh_host_that_is_not_a_host_name_is_refused(tmp_path, host):
    site = GOOD_SITE.replace(
        'transport = "local"\nroot = "sites/pisa"',
        f'transport = "ssh"\nhost = {json.dumps(host)}\nuser = "pps"\nknown_hosts = "kh"',
    )

    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, REPO + site))

    assert str(err.value).endswith(f"site 'INFN-PISA': host {host!r} is not a host name or IP "
                                   "address (use letters, digits, '-' and dots, such as "
                                   "ce01.example.org)")  # fmt: skip


@pytest.mark.parametrize("host", ["ui.pi.infn.it", "127.0.0.1", "::1", "localhost"])
def test_an_ssh_host_name_or_address_loads(tmp_path, host):
    site = GOOD_SITE.replace(
        'transport = "local"\nroot = "sites/pisa"',
        f'transport = "ssh"\nhost = {json.dumps(host)}\nuser = "pps"\nknown_hosts = "kh"',
    )

    assert load_config(_config(tmp_path, REPO + site)).site("INFN-PISA").host == host
