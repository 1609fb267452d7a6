package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLateWatch: a stream whose events are all late is a WARN, once, and
// a problem until events are on time again; a stream with some events in
// their windows is no problem.
func TestLateWatch(t *testing.T) {
	e, _ := newEngine(t, testOptions(), nil, nil)
	p := open(t, e, 0)
	var logs bytes.Buffer
	w := NewLateWatch(e, time.Minute, slog.New(slog.NewTextHandler(&logs, nil)))
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	off := int64(0)
	apply := func(ts time.Time, n int) {
		for range n {
			p.Apply(off, event(ts, "m", "v1", "x", 1.0))
			off++
		}
	}
	for i := range 300 { // five minutes on time: windows close
		apply(t0.Add(time.Duration(i)*time.Second), 1)
	}
	w.Check() // the first look
	apply(t0.Add(301*time.Second), 10)
	apply(t0.Add(-time.Hour), 1)
	w.Check()
	require.NoError(t, w.Problem(), "some events on time")

	// Only late events, for two intervals.
	apply(t0.Add(-time.Hour), 20)
	w.Check()
	require.NoError(t, w.Problem(), "one interval could be a partition catching up")
	apply(t0.Add(-time.Hour), 20)
	w.Check()
	require.ErrorContains(t, w.Problem(), "every event of the last 2m0s (20) was late, so none is evaluated")
	apply(t0.Add(-time.Hour), 20)
	w.Check()
	w.Check() // no events at all: no change
	require.Error(t, w.Problem())
	require.Equal(t, 1, strings.Count(logs.String(), "level=WARN"), logs.String())

	// On time again.
	apply(t0.Add(302*time.Second), 5)
	w.Check()
	require.NoError(t, w.Problem())
	require.Contains(t, logs.String(), `level=INFO msg="events are in their windows again: they are evaluated"`)
}
