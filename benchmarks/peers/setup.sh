#!/usr/bin/env bash
# Creates the peer virtual environments used by the metric-logging benchmark.
# They live outside the repository, under $MLTRACKER_BENCH_VENVS
# (default: ~/.cache/mltracker-bench). Safe to rerun: a venv whose marker
# file matches its pinned requirements is left as it is.
set -euo pipefail

VENVS="${MLTRACKER_BENCH_VENVS:-$HOME/.cache/mltracker-bench}"
PY311="${MLTRACKER_BENCH_PY311:-python3}"
PY312="${MLTRACKER_BENCH_PY312:-/root/.pyenv/versions/3.12.1/bin/python}"

# Pinned peer versions.
ORIGINAL_REQS=(mltracker==0.4.0 tinydb==4.9.0)   # the 0.4.0 wheel does not declare tinydb
MLFLOW_REQS=(mlflow==3.17.2)                    # full package: brings SQLAlchemy + alembic for sqlite:///
TRACKIO_REQS=(trackio==0.43.0)
# The integrations benchmark: Lightning with MLflow's logger, trackio, and ours (from the
# checkout's src/, with its dependencies), all in one venv. torch is pinned to the CPU wheel
# kept on this machine's disk.
LIGHTNING_REQS=(torch==2.13.0 lightning==2.6.6 mlflow==3.17.2 trackio==0.43.0
                "sqlalchemy>=2.0.30,<3" click rich urllib3 orjson)

mkdir -p "$VENVS"

# make_venv NAME PYTHON REQ...
make_venv() {
    local name="$1" python="$2"
    shift 2
    local dir="$VENVS/$name"
    local marker="$dir/.mltracker-bench-ok"
    local want="$*"
    if [[ -f "$marker" && "$(cat "$marker")" == "$want" && -x "$dir/bin/python" ]]; then
        echo "[$name] up to date: $dir" >&2
        return 0
    fi
    if ! command -v "$python" >/dev/null 2>&1 && [[ ! -x "$python" ]]; then
        echo "[$name] interpreter not found: $python" >&2
        return 1
    fi
    echo "[$name] creating venv with $("$python" --version 2>&1) in $dir" >&2
    rm -f "$marker"
    [[ -x "$dir/bin/python" ]] || "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    echo "$want" > "$marker"
    echo "[$name] installed: $*" >&2
}

start=$SECONDS
make_venv original "$PY312" "${ORIGINAL_REQS[@]}"
make_venv mlflow   "$PY311" "${MLFLOW_REQS[@]}"
make_venv trackio  "$PY311" "${TRACKIO_REQS[@]}"
if [[ "${1:-}" == "--lightning" || "${MLTRACKER_BENCH_LIGHTNING:-}" == "1" ]]; then
    make_venv lightning "$PY311" "${LIGHTNING_REQS[@]}"
fi

echo "setup took $((SECONDS - start)) s" >&2
for name in original mlflow trackio lightning; do
    [[ -x "$VENVS/$name/bin/python" ]] || continue
    echo "$name: $VENVS/$name/bin/python"
done
