#!/usr/bin/env bash
# The project's test command: formatting, vet, the whole suite, and the race
# detector on the packages that run goroutines. README and .ci/run call it.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$( gofmt -l cmd pkg test bench 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -count=1 ./...

# Packages with goroutines, network or clocks run again under -race; the
# pure statistical core (sketch, drift) has none and its large seeded
# accuracy tests would only be slower there.
race=$(go list ./... | grep -Ev '/pkg/(sketch|drift)$' || true)
if [ -n "$race" ]; then
  go test -count=1 -race $race
fi

# The fuzz targets of the data path, each for a bounded number of
# executions beyond its committed seed corpus (which every go test run
# above replays): sketch operations on any float64, and events of any
# value and time through the engine with checkpoints and restores (issue
# 9), and the decoder's fast path against its general one and its number
# conversion against strconv (issue 14).
#
# Budgets are counts, about 15 s each on a quiet 2-core machine: with a
# duration, Go 1.26's fuzzing coordinator can fail a target that found
# nothing, with a bare "context deadline exceeded" (golang/go#75804, fixed
# in 1.27). Nothing is minimized: minimizing each new interesting input
# (60 s by default) took the whole budget, and 31 inputs were run in 15 s.
# NORMWATCH_FUZZTIME sets one budget for all (a count such as 2000x, or a
# duration), 0 skips them.
fuzz() { # target package default-budget
  local budget=${NORMWATCH_FUZZTIME:-$3}
  [ "$budget" = "0" ] && return
  go test -run '^$' -fuzz "^$1\$" -fuzztime "$budget" -fuzzminimizetime 0x "$2"
}
fuzz FuzzNumericOps ./pkg/sketch 6000x
fuzz FuzzEngineEvents ./pkg/engine 6000x
fuzz FuzzFastDecodeAgrees ./pkg/stream 40000x
fuzz FuzzParseNumber ./pkg/stream 100000x
