# Sourced by scripts/demo and scripts/test: make ./.venv with the machine's python3.
# A fresh Debian has python3 without venv/ensurepip: install python3-venv when we may.
ensure_venv() {
    if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys' 2>/dev/null; then
        return 0
    fi
    rm -rf .venv
    if ! python3 -m venv .venv 2>/dev/null; then
        rm -rf .venv
        echo "python3 -m venv failed: installing Debian's python3-venv" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv .venv
    fi
    .venv/bin/python -m pip install -q --upgrade pip
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
