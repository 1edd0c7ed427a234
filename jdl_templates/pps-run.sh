#!/bin/sh
# pps-run.sh: run a grid job's program with pps preview clients set up on the worker node.
#
#   pps-run.sh [-r ROOT] COMPONENT/VERSION [COMPONENT/VERSION ...] -- PROGRAM [ARG ...]
#   pps-run.sh [-r ROOT] --self-test COMPONENT/VERSION
#
# The site's preview root is -r ROOT, else $PPS_PREVIEW_ROOT (set by the site: its ARC
# RunTimeEnvironment script, the worker nodes' profile; or by you), else the PPS_PREVIEW_ROOT
# attribute of the HTCondor machine ad ($_CONDOR_MACHINE_AD).  Each preview's tree is
# ROOT/COMPONENT/VERSION; its pps-env.sh (production environment first, then the preview in
# front of it) is sourced in the order given, and the version used goes to standard error.
# Then PROGRAM replaces this script (its exit code is the job's).  --self-test runs the
# preview's own local tests (those of its manifest; needs python3) and exits 0 if all passed.
#
# Exit codes before PROGRAM runs:
#   64  bad usage
#   65  no preview root: none given, or it is not a directory
#   66  the preview is absent at this site (not installed, or retired)
#   67  the preview is broken here (incomplete tree, its tests failed, pps-env.sh fails)
#   68  PROGRAM cannot be run (not found or not executable)
#   69  --self-test: python3 is missing; 1: a local test failed
# POSIX sh only.

PPS_RUN_USAGE=64
PPS_RUN_NO_ROOT=65
PPS_RUN_ABSENT=66
PPS_RUN_BROKEN=67
PPS_RUN_NO_PROGRAM=68
PPS_RUN_NO_PYTHON=69

pps_die() {
    # pps_die CODE MESSAGE: one line on standard error, then exit CODE.
    printf 'pps-run.sh: %s\n' "$2" >&2
    exit "$1"
}

pps_root=
pps_self_test=
while [ $# -gt 0 ]; do
    case $1 in
        -r)
            [ $# -ge 2 ] || pps_die $PPS_RUN_USAGE "-r needs a directory"
            pps_root=$2
            shift 2
            ;;
        --self-test)
            pps_self_test=yes
            shift
            ;;
        -h|--help)
            sed -n '2,22s/^# \{0,1\}//p' "$0"
            exit 0
            ;;
        *)
            break
            ;;
    esac
done

if [ -z "$pps_root" ]; then
    pps_root=${PPS_PREVIEW_ROOT-}
fi
if [ -z "$pps_root" ] && [ -n "${_CONDOR_MACHINE_AD-}" ] && [ -r "$_CONDOR_MACHINE_AD" ]; then
    pps_root=$(sed -n 's/^PPS_PREVIEW_ROOT *= *"\([^"]*\)" *$/\1/p' "$_CONDOR_MACHINE_AD" | sed -n 1p)
fi
if [ -z "$pps_root" ]; then
    pps_die $PPS_RUN_NO_ROOT "no preview root: this site does not publish PPS_PREVIEW_ROOT (ask it, or set it / use -r ROOT)"
fi
if [ ! -d "$pps_root" ]; then
    pps_die $PPS_RUN_NO_ROOT "preview root $pps_root is not a directory on this worker node"
fi

# The previews, up to "--" (or, with --self-test, the one to test).
pps_previews=
pps_count=0
while [ $# -gt 0 ] && [ "x$1" != "x--" ]; do
    case $1 in
        */*/*|/*|*/|*/.*|.*|-*|*/-*|*[!A-Za-z0-9._/-]*)
            pps_die $PPS_RUN_USAGE "preview '$1' is not COMPONENT/VERSION"
            ;;
        */*)
            ;;
        *)
            pps_die $PPS_RUN_USAGE "preview '$1' is not COMPONENT/VERSION"
            ;;
    esac
    pps_previews="$pps_previews $1"
    pps_count=$((pps_count + 1))
    shift
done
if [ "$pps_count" -eq 0 ]; then
    pps_die $PPS_RUN_USAGE "usage: pps-run.sh [-r ROOT] COMPONENT/VERSION ... -- PROGRAM [ARG ...]"
fi
if [ -n "$pps_self_test" ]; then
    [ "$pps_count" -eq 1 ] && [ $# -eq 0 ] || pps_die $PPS_RUN_USAGE "--self-test takes one COMPONENT/VERSION"
else
    [ "x${1-}" = "x--" ] && [ $# -ge 2 ] || pps_die $PPS_RUN_USAGE "no program: give -- PROGRAM [ARG ...]"
    shift
fi

for pps_spec in $pps_previews; do
    pps_component=${pps_spec%/*}
    pps_version=${pps_spec#*/}
    pps_tree=$pps_root/$pps_spec
    pps_state=$pps_root/.pps/state/$pps_spec.json
    if [ -r "$pps_state" ]; then
        if grep -Eq '"status"[[:space:]]*:[[:space:]]*"broken"' "$pps_state"; then
            pps_die $PPS_RUN_BROKEN "$pps_component $pps_version is broken at this site: its local tests failed (see the site's probe)"
        fi
        if grep -Eq '"status"[[:space:]]*:[[:space:]]*"retired"' "$pps_state"; then
            pps_die $PPS_RUN_ABSENT "$pps_component $pps_version is retired at this site: it is no longer a preview here"
        fi
    fi
    if [ ! -d "$pps_tree" ]; then
        pps_die $PPS_RUN_ABSENT "$pps_component $pps_version is not installed at this site (no $pps_tree)"
    fi
    if [ ! -r "$pps_tree/pps-env.sh" ] || [ ! -f "$pps_tree/.pps-install.json" ]; then
        pps_die $PPS_RUN_BROKEN "$pps_component $pps_version is broken at this site: $pps_tree has no pps-env.sh or install marker"
    fi
    # pps-env.sh is sourced in a subshell first: a failing one is reported, not half-applied.
    if ! (. "$pps_tree/pps-env.sh") >/dev/null 2>&1 </dev/null; then
        pps_die $PPS_RUN_BROKEN "$pps_component $pps_version is broken at this site: $pps_tree/pps-env.sh fails"
    fi
    . "$pps_tree/pps-env.sh" </dev/null
    printf 'pps-run.sh: using %s %s from %s\n' "$pps_component" "$pps_version" "$pps_tree" >&2
done
unset pps_spec pps_state pps_count pps_previews

if [ -n "$pps_self_test" ]; then
    command -v python3 >/dev/null 2>&1 || pps_die $PPS_RUN_NO_PYTHON "--self-test needs python3 on the worker node"
    cd "$pps_tree" || pps_die $PPS_RUN_BROKEN "cannot enter $pps_tree"
    [ -r .pps-manifest.json ] || pps_die $PPS_RUN_BROKEN "$pps_component $pps_version is broken at this site: $pps_tree has no manifest"
    exec python3 -c '
import json, os, shutil, subprocess, sys
shell = shutil.which("bash") or "/bin/sh"
with open(".pps-manifest.json", encoding="utf-8") as f:
    tests = json.load(f).get("tests", [])
failed = 0
for t in tests:
    name, command = t["name"], t["command"]
    try:
        rc = subprocess.run([shell, "-c", command], timeout=float(t.get("timeout", 300)),
                            stdin=subprocess.DEVNULL).returncode
    except subprocess.TimeoutExpired:
        rc = None
    if rc == 0:
        print("PASS", name)
    else:
        failed += 1
        print("FAIL", name, "(timed out)" if rc is None else "(exit %d)" % rc)
    sys.stdout.flush()
print("%d of %d local tests passed" % (len(tests) - failed, len(tests)))
sys.exit(1 if failed else 0)
'
fi

case $1 in
    */*)
        if [ ! -f "$1" ]; then
            pps_die $PPS_RUN_NO_PROGRAM "program $1 does not exist on this worker node"
        fi
        if [ ! -x "$1" ]; then
            chmod u+x "$1" 2>/dev/null || pps_die $PPS_RUN_NO_PROGRAM "program $1 is not executable"
        fi
        ;;
    *)
        command -v "$1" >/dev/null 2>&1 || pps_die $PPS_RUN_NO_PROGRAM "program $1 is not on PATH"
        ;;
esac
unset pps_root pps_tree pps_component pps_version pps_self_test
exec "$@"
