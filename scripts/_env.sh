# Shared by scripts/*: the project's virtual environment, created and kept up to date.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLTRACKER_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PYTHON:-python3}"

ensure_venv() {  # ensure_venv EXTRAS
    local extras="$1" stamp
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON_BIN" -m venv "$VENV"
    fi
    # A new pyproject.toml or npm lockfile installs again (the build copies the npm files).
    stamp="$VENV/.mltracker-$extras-$(cat "$ROOT/pyproject.toml" "$ROOT/frontend/package-lock.json" | sha1sum | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$extras]"
        touch "$stamp"
    fi
}

venv_display() {  # the environment's path as a person would type it from here
    case "$VENV" in
        "$PWD"/*) echo "${VENV#"$PWD"/}" ;;
        *) echo "$VENV" ;;
    esac
}
