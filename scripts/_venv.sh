# Sourced by scripts/demo, scripts/test and scripts/install-system-deps: make ./.venv with the
# machine's python3, run pip quietly, run a command as root.
# A fresh Debian has python3 without venv/ensurepip: install python3-venv when we may.
ensure_venv() {
    if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys' 2>/dev/null; then
        return 0
    fi
    rm -rf .venv
    if ! python3 -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv
        echo "python3 -m venv failed: installing Debian's python3-venv" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv .venv
    fi
    quiet_pip --upgrade pip
}

# pip, with its chatter kept in .venv/pip.log and shown only when it fails.
quiet_pip() {
    if ! .venv/bin/python -m pip install -q "$@" >.venv/pip.log 2>&1 </dev/null; then
        cat .venv/pip.log >&2
        echo "pip install $* failed (log: .venv/pip.log)" >&2
        return 1
    fi
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
