"""``pps match``: where a job would run now, decided by the real engine of the job's language.

From the information system's entries (GLUE 1.3 ``GlueCE`` / ``GlueSubCluster``, GLUE 2.0
``ApplicationEnvironment``; a BDII's or the sites' own GIP output, read by the caller),
:func:`resources` builds one resource per CE:

- for JDL, a CE ClassAd as the gLite WMS builds it: the CE's ``GlueCE*`` attributes and its
  SubCluster's ``GlueHost*`` / ``GlueSubCluster*`` ones (OS, architecture, memory, outbound IP,
  MaxCPUTime...), numbers as integers, the RunTimeEnvironment values as a list;
- for HTCondor submit files, a machine ad: ``PPS_RTE`` (the comma list of :mod:`pps.rte`) and
  the machine attributes a requirement commonly uses (``OpSys``, ``Arch``, ``Memory``);
- for xRSL and ADL, the ARC RunTimeEnvironment names the CE offers.

A tag whose GLUE 2.0 ApplicationEnvironment says ``installedbroken`` or ``pendingremoval`` is
not offered, whatever GLUE 1.3 still lists.  :func:`match_job` evaluates the job against every
resource (``classad2.symmetricMatch``; ARC's ``SoftwareRequirement.isSatisfied``) and, for the
ones that do not match, which clause of the job's requirements failed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pps.errors import BadInput
from pps.glue import RTE_ATTR, STATE_BROKEN, STATE_PENDING_REMOVAL, Entry
from pps.names import parse_version_tag
from pps.record import Record, field
from pps.rte import CONDOR_ATTRIBUTE, condor_value, parse_rte_name, rte_name, split_rte_name

#: GLUE 1.3 attributes that are numbers (the WMS compares them as such).
_NUMERIC = {
    "gluehostmainmemoryramsize", "gluehostmainmemoryvirtualsize", "gluehostarchitecturesmpsize",
    "gluehostbenchmarksi00", "gluehostbenchmarksf00", "gluehostprocessorclockspeed",
    "gluesubclusterphysicalcpus", "gluesubclusterlogicalcpus", "gluecepolicymaxcputime",
    "gluecepolicymaxwallclocktime", "gluecepolicymaxrunningjobs", "gluecepolicymaxtotaljobs",
    "gluecestateestimatedresponsetime", "gluecestatefreecpus", "gluecestaterunningjobs",
    "gluecestatewaitingjobs", "gluecestatetotaljobs", "gluecestatefreejobslots",
    "gluecepolicypriority", "gluecepolicyassignedjobslots", "gluecestateworstresponsetime",
    "glueceinfototalcpus",
}  # fmt: skip
_BOOLEAN = {"gluehostnetworkadapteroutboundip", "gluehostnetworkadapterinboundip"}
_MULTI = {RTE_ATTR.lower(), "glueceaccesscontrolbaserule"}
_GONE = (STATE_BROKEN, STATE_PENDING_REMOVAL)
LANGS = ("jdl", "xrsl", "adl", "condor")

#: Every GLUE 1.3 attribute the resources are built from (what a BDII search asks for).
GLUE13_ATTRS = (
    "objectClass", "GlueCEUniqueID", "GlueForeignKey", "GlueSubClusterUniqueID",
    "GlueChunkKey", "GlueClusterUniqueID", RTE_ATTR, "GlueHostOperatingSystemName",
    "GlueHostOperatingSystemRelease", "GlueHostOperatingSystemVersion",
    "GlueHostArchitecturePlatformType", "GlueHostArchitectureSMPSize",
    "GlueHostMainMemoryRAMSize", "GlueHostMainMemoryVirtualSize",
    "GlueHostNetworkAdapterOutboundIP", "GlueHostNetworkAdapterInboundIP",
    "GlueHostProcessorModel", "GlueHostProcessorVendor", "GlueHostProcessorClockSpeed",
    "GlueHostBenchmarkSI00", "GlueHostBenchmarkSF00", "GlueSubClusterPhysicalCPUs",
    "GlueSubClusterLogicalCPUs", "GlueCEPolicyMaxCPUTime", "GlueCEPolicyMaxWallClockTime",
    "GlueCEStateEstimatedResponseTime", "GlueCEStateFreeCPUs", "GlueCEStateStatus",
    "GlueCEAccessControlBaseRule", "GlueCEInfoHostName", "GlueCEImplementationName",
)  # fmt: skip
GLUE2_ATTRS = (
    "GLUE2ApplicationEnvironmentAppName", "GLUE2ApplicationEnvironmentAppVersion",
    "GLUE2ApplicationEnvironmentState", "GLUE2EntityOtherInfo",
    "GLUE2ApplicationEnvironmentComputingManagerForeignKey",
)  # fmt: skip


class Resource(Record):
    """One CE (or, where no GlueCE entry is published, one subcluster) of one site."""

    site: str
    ce: str
    #: The CE ClassAd's attributes (GLUE 1.3 names; RTE values as a list).
    glue: dict[str, Any] = field(default_factory=dict)
    #: The live GLUE 1.3 RunTimeEnvironment values (GLUE 2.0 states applied).
    tags: tuple[str, ...] = ()
    #: The ARC RunTimeEnvironment names it offers.
    rtes: tuple[str, ...] = ()


class Verdict(Record):
    site: str
    ce: str
    matches: bool
    #: Why not (the failed clauses, each as the job wrote it), empty when it matches.
    failed: tuple[str, ...] = ()


def _ldap_escape(value: str) -> str:
    """*value* for an LDAP filter (RFC 4515)."""
    return "".join(f"\\{ord(c):02x}" if c in "*()\\\0" else c for c in value)


def glue2_filter(job: Job) -> str:
    """The GLUE 2.0 search a match needs: the ApplicationEnvironments whose state takes a tag
    away (broken, pending removal: case-folded against every GLUE 1.3 value), and, for an
    xRSL, those named by the job's runtime environments (ARC compares names exactly, and so
    does the schema's ``caseExactMatch`` on AppName).  Live GLUE 2.0 states of other names
    change nothing a WMS or an HTCondor pool would decide (they match on GLUE 1.3)."""
    parts = [f"(GLUE2ApplicationEnvironmentState={s})" for s in _GONE]
    for name in job.xrsl.get("runtimeenvironments", []):
        app, version = split_rte_name(name)
        clause = f"(GLUE2ApplicationEnvironmentAppName={_ldap_escape(app)})"
        if version:
            clause = f"(&{clause}(GLUE2ApplicationEnvironmentAppVersion={_ldap_escape(version)}))"
        parts.append(clause)
    return f"(&(objectClass=GLUE2ApplicationEnvironment)(|{''.join(parts)}))"


def _value(name: str, raw: str) -> Any:
    key = name.lower()
    if key in _NUMERIC:
        try:
            return int(raw)
        except ValueError:
            return raw
    if key in _BOOLEAN:
        return raw.strip().upper() == "TRUE"
    return raw


def _attrs(e: Entry) -> dict[str, Any]:
    out: dict[str, Any] = {}
    canonical = {a.lower(): a for a in GLUE13_ATTRS}
    for key, values in e.attrs.items():
        name = canonical.get(key)
        if name is None or name in ("objectClass", "GlueForeignKey", "GlueChunkKey") or not values:
            continue
        out[name] = list(values) if key in _MULTI else _value(name, values[0])
    return out


def _cluster_key(values: Iterable[str]) -> str:
    for v in values:
        kind, _, ident = v.partition("=")
        if kind.strip().lower() == "glueclusteruniqueid":
            return ident.strip()
    return ""


def _glue2_states(entries: Iterable[Entry]) -> dict[str, str]:
    """``{folded name: state}`` of the GLUE 2.0 ApplicationEnvironments: a pps tag (our GIP
    names the AppEnv by its tag) and an ARC RTE (``AppName-AppVersion``) both count."""
    states: dict[str, str] = {}
    for e in entries:
        name = e.first("GLUE2ApplicationEnvironmentAppName")
        if not name:
            continue
        state = e.first("GLUE2ApplicationEnvironmentState", "installedverified").lower()
        version = e.first("GLUE2ApplicationEnvironmentAppVersion")
        for key in {name.casefold(), f"{name}-{version}".casefold() if version else ""} - {""}:
            old = states.get(key)
            if old is None or (old in _GONE and state not in _GONE):
                states[key] = state  # several CEs: a live one wins
    return states


def _arc_names(tags: Iterable[str], glue2: Mapping[str, str], names: Iterable[str]) -> list[str]:
    """The ARC RTE names a CE offers: the live GLUE 2.0 ones that are pps RTEs, and the RTE
    of every live per-VO tag (an ARC site publishes both for a version)."""
    out: dict[str, str] = {}
    for n in names:
        ref = parse_rte_name(n)
        if ref is not None and glue2.get(n.casefold()) not in _GONE:
            out.setdefault(n.upper(), n)
    for t in tags:
        parsed = parse_version_tag(t)
        if parsed is None:
            continue
        try:
            name = rte_name(parsed.component, parsed.version)
        except BadInput:
            continue
        out.setdefault(name, name)
    return list(out.values())


def site_resources(site: str, entries: Sequence[Entry]) -> list[Resource]:
    """The resources of one site from its entries (both schemas)."""
    subclusters: dict[str, list[dict[str, Any]]] = {}
    ces: list[tuple[str, str, dict[str, Any]]] = []
    glue2 = [e for e in entries if e.get("GLUE2ApplicationEnvironmentAppName")]
    states = _glue2_states(glue2)
    arc_live = [
        f"{e.first('GLUE2ApplicationEnvironmentAppName')}-"
        f"{e.first('GLUE2ApplicationEnvironmentAppVersion')}"
        for e in glue2
    ]
    for e in entries:
        if e.get("GlueCEUniqueID"):
            ces.append(
                (e.first("GlueCEUniqueID"), _cluster_key(e.get("GlueForeignKey")), _attrs(e))
            )
        elif e.get("GlueSubClusterUniqueID") or e.get(RTE_ATTR):
            sub = _attrs(e)
            sub.setdefault("GlueSubClusterUniqueID", e.first("GlueSubClusterUniqueID"))
            subclusters.setdefault(_cluster_key(e.get("GlueChunkKey")), []).append(sub)
    out = []

    def resource(ce: str, attrs: dict[str, Any]) -> Resource:
        rte = [t for t in attrs.get(RTE_ATTR, []) if states.get(t.casefold()) not in _GONE]
        attrs[RTE_ATTR] = rte
        return Resource(site, ce, attrs, tuple(rte), tuple(_arc_names(rte, states, arc_live)))

    if ces:
        for ce_id, cluster, ce_attrs in ces:
            subs = subclusters.get(cluster) or [s for group in subclusters.values() for s in group]
            for sub in subs or [{}]:
                out.append(resource(ce_id, {**sub, **ce_attrs}))
    elif subclusters:
        for group in subclusters.values():
            for sub in group:
                out.append(resource(str(sub.get("GlueSubClusterUniqueID", site)), dict(sub)))
    else:  # GLUE 2.0 only (an ARC-CE): one resource per ComputingManager
        managers: dict[str, list[Entry]] = {}
        for e in glue2:
            key = e.first("GLUE2ApplicationEnvironmentComputingManagerForeignKey") or site
            managers.setdefault(key, []).append(e)
        for manager, envs in managers.items():
            names = [e.first("GLUE2ApplicationEnvironmentAppName") for e in envs]
            live = [n for n in names if states.get(n.casefold()) not in _GONE]
            tags = [n for n in live if parse_version_tag(n) is not None]
            rtes = _arc_names(tags, states, arc_live)
            out.append(Resource(site, manager, {RTE_ATTR: tags}, tuple(tags), tuple(rtes)))
    return out


def resources(entries_by_site: Mapping[str, Sequence[Entry]]) -> list[Resource]:
    """Every site's resources, sites in the order given."""
    out: list[Resource] = []
    for site, entries in entries_by_site.items():
        out += site_resources(site, entries)
    return out


# --------------------------------------------------------------------------- the job side


def detect_lang(text: str, name: str = "") -> str:
    """The language of a job file: by its suffix (``.jdl``, ``.xrsl``/``.rsl``, ``.sub``/
    ``.submit``/``.condor``), else by its content."""
    suffix = Path(name).suffix.lower()
    by_suffix = {".jdl": "jdl", ".xrsl": "xrsl", ".rsl": "xrsl", ".adl": "adl", ".xml": "adl",
                 ".sub": "condor", ".submit": "condor", ".condor": "condor"}  # fmt: skip
    if suffix in by_suffix:
        return by_suffix[suffix]
    if text.lstrip().startswith("<"):
        return "adl"
    body = re.sub(r"\(\*.*?\*\)", "", text, flags=re.DOTALL).strip()
    if body.startswith(("&", "+", "(", "|")):
        return "xrsl"
    if re.search(r"(?im)^\s*queue\b", text):
        return "condor"
    return "jdl"


def split_conjuncts(expr: str) -> list[str]:
    """The top-level ``&&`` operands of a ClassAd expression's text (strings, parentheses and
    brackets respected), outer parentheses of each dropped when they enclose it whole."""
    parts, depth, cur, i, quote = [], 0, [], 0, False
    while i < len(expr):
        ch = expr[i]
        if quote:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(expr):
                cur.append(expr[i + 1])
                i += 1
            elif ch == '"':
                quote = False
        elif ch == '"':
            quote = True
            cur.append(ch)
        elif ch in "([{":
            depth += 1
            cur.append(ch)
        elif ch in ")]}":
            depth -= 1
            cur.append(ch)
        elif depth == 0 and expr.startswith("&&", i):
            parts.append("".join(cur).strip())
            cur = []
            i += 1
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur).strip())
    out = []
    for p in parts:
        stripped = False
        while p.startswith("(") and p.endswith(")") and _encloses(p):
            p = p[1:-1].strip()
            stripped = True
        if not p:
            continue
        inner = split_conjuncts(p) if stripped else [p]
        out += inner
    return out


def _encloses(text: str) -> bool:
    depth, quote = 0, False
    for i, ch in enumerate(text):
        if quote:
            quote = ch != '"' or text[i - 1] == "\\"
        elif ch == '"':
            quote = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return False
    return True


def _classad2() -> Any:
    from jdl_templates.classads import _classad2

    mod = _classad2()
    try:  # HTCondor's ClassAd functions (stringListIMember...) come with htcondor2
        import htcondor2  # noqa: F401
    except ImportError:
        pass
    return mod


def machine_ad_attrs(r: Resource) -> dict[str, Any]:
    """The HTCondor machine ad of a resource: ``PPS_RTE`` and the common machine attributes,
    beside the GLUE ones (a requirement may use either)."""
    ad = dict(r.glue)
    ad.pop(RTE_ATTR, None)
    ad[CONDOR_ATTRIBUTE] = condor_value(t for t in r.tags if _TAG_OK.match(t))
    os_name = str(r.glue.get("GlueHostOperatingSystemName", "")).lower()
    ad["OpSys"] = "LINUX" if os_name and os_name != "unknown" else "UNKNOWN"
    ad["Arch"] = str(r.glue.get("GlueHostArchitecturePlatformType", "")).upper() or "UNKNOWN"
    ad["Memory"] = r.glue.get("GlueHostMainMemoryRAMSize", 0)
    ad["Name"] = r.ce
    return ad


_TAG_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,299}\Z")


class Job(Record):
    """A parsed job: its language, its requirements text and (xRSL) what ARC's parser said."""

    lang: str
    requirements: str
    ad: Any = None
    xrsl: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def parse_job(text: str, lang: str, source: str = "job") -> Job:
    """Parse a job with its language's engine (BadInput naming *source* if it refuses it)."""
    if lang == "jdl":
        from jdl_templates.classads import parse_jdl

        ad = parse_jdl(text, source)
        req = ad.lookup("Requirements") if "Requirements" in ad else None
        return Job("jdl", str(req) if req is not None else "true", ad, text=text)
    if lang == "condor":
        classad2 = _classad2()
        import htcondor2

        try:
            sub = htcondor2.Submit(text)
        except Exception as e:  # the binding raises plain exceptions on a bad file
            raise BadInput(f"{source} is not a valid submit description: {e}") from None
        req = sub.expand("requirements") if "requirements" in sub else "true"
        try:
            classad2.ExprTree(req)
        except Exception:
            raise BadInput(f"{source}: requirements {req!r} is not a ClassAd expression") from None
        return Job("condor", req or "true", text=text)
    if lang in ("xrsl", "adl"):
        from jdl_templates.arc_engine import parse_xrsl

        return Job(lang, "", xrsl=parse_xrsl(text, source, lang=lang), text=text)
    raise BadInput(f"language {lang!r} is not one of {', '.join(LANGS)}")


def _classad_verdicts(job: Job, ads: list[tuple[Resource, Any]], explain: bool) -> list[Verdict]:
    classad2 = _classad2()
    base = job.ad if job.ad is not None else classad2.ClassAd()
    base = classad2.ClassAd(str(base))
    base["Requirements"] = classad2.ExprTree(job.requirements)
    clauses = split_conjuncts(job.requirements) if explain else []
    out = []
    for r, ad in ads:
        if base.symmetricMatch(ad) is True:
            out.append(Verdict(r.site, r.ce, True))
            continue
        failed = []
        for clause in clauses:
            probe = classad2.ClassAd(str(base))
            probe["Requirements"] = classad2.ExprTree(clause)
            if ad.matches(probe) is not True:  # matches(x): x's Requirements, here
                failed.append(clause)
        if explain and base.matches(ad) is not True:
            failed.append(f"the CE's own Requirements ({ad.lookup('Requirements')})")
        out.append(Verdict(r.site, r.ce, False, tuple(failed)))
    return out


def match_job(job: Job, found: Sequence[Resource], explain: bool = False) -> list[Verdict]:
    """The verdict of every resource for *job*, in the order of *found*."""
    if job.lang in ("jdl", "condor"):
        classad2 = _classad2()
        ads = []
        for r in found:
            attrs = dict(r.glue) if job.lang == "jdl" else machine_ad_attrs(r)
            ad = classad2.ClassAd(attrs)
            ad["Requirements"] = True
            ads.append((r, ad))
        return _classad_verdicts(job, ads, explain)
    from jdl_templates.arc_engine import parse_xrsl

    info = parse_xrsl(job.text, "job", resources=[list(r.rtes) for r in found], lang=job.lang)
    out = []
    for r, ok in zip(found, info["satisfied"]):
        failed = []
        if not ok:
            failed += [
                f'runtimeenvironment="{n}"' for n in info["runtimeenvironments"] if n not in r.rtes
            ] or ["runtimeenvironment"]
        memory = info.get("memory", -1)
        ram = r.glue.get("GlueHostMainMemoryRAMSize")
        if isinstance(memory, int) and memory > 0 and isinstance(ram, int) and 0 < ram < memory:
            failed.append(f"memory>={memory} (the CE has {ram} MB)")
        cpu = info.get("cputime", -1)
        limit = r.glue.get("GlueCEPolicyMaxCPUTime")
        if isinstance(cpu, int) and cpu > 0 and isinstance(limit, int) and 0 < limit * 60 < cpu:
            failed.append(f"cputime={cpu // 60} min (the CE allows {limit} min)")
        out.append(Verdict(r.site, r.ce, not failed, tuple(failed) if explain else ()))
    return out
