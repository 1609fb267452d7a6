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

# The fuzz targets of the data path, each for a bounded time beyond its
# committed seed corpus (which every go test run above replays): sketch
# operations on any float64, and events of any value and time through the
# engine with checkpoints and restores (issue 9), and the decoder's fast
# path against its general one and its number conversion against strconv
# (issue 14). NORMWATCH_FUZZTIME=0
# skips them. Minimizing every new interesting input (60 s each by
# default) would take the whole bounded time, with no new input run at
# all (31 executions in 15 s were seen), so nothing is minimized here.
fuzztime=${NORMWATCH_FUZZTIME:-15s}
if [ "$fuzztime" != "0" ]; then
  go test -run '^$' -fuzz '^FuzzNumericOps$' -fuzztime "$fuzztime" -fuzzminimizetime 0x ./pkg/sketch
  go test -run '^$' -fuzz '^FuzzEngineEvents$' -fuzztime "$fuzztime" -fuzzminimizetime 0x ./pkg/engine
  go test -run '^$' -fuzz '^FuzzFastDecodeAgrees$' -fuzztime "$fuzztime" -fuzzminimizetime 0x ./pkg/stream
  go test -run '^$' -fuzz '^FuzzParseNumber$' -fuzztime "$fuzztime" -fuzzminimizetime 0x ./pkg/stream
fi
