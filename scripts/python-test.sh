#!/usr/bin/env bash
# The Python client's checks (clients/python): a virtual environment with
# the pinned test requirements, the package installed as users install it
# (pip install ./clients/python), mypy --strict, then pytest, which builds
# baselines with the real monitor binary and runs monitor run
# --kafka.embedded. .ci/run calls it; it needs python3 and Go.
#
#   NORMWATCH_VENV   where the environment lives (default ~/.cache/normwatch/venv)
#   NORMWATCH_EMBEDDINGS=1   also the real-embedding test (item 6 of issue 13)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${NORMWATCH_VENV:-$HOME/.cache/normwatch/venv}
req=clients/python/requirements-test.txt
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./clients/python

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/monitor" ./cmd/monitor

cd clients/python
"$venv/bin/mypy"
NORMWATCH_MONITOR="$bin/monitor" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests
