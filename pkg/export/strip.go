package export

import (
	"fmt"

	"github.com/normwatch/normwatch/pkg/drift"
)

// strip is a history strip: the evaluations the History keeps, the
// newest on the right, one cell per evaluation, drawn as runs of equal
// diagnosis and colour (so a steady series is one rectangle, whatever the
// history's length, and the page stays small at thousands of series),
// coloured by severity. Each run's tooltip (an SVG title, shown on hover)
// gives its diagnosis and windows; a run that starts with a change of
// diagnosis or of severity (a critical diagnosis easing to a warning
// while the horizon still holds windows of the bug) is marked and its
// tooltip says when the change happened.
type strip struct {
	W, H  int
	Size  int // cells the strip has room for
	Cells []stripCell
	// Since says what the series is now and since when.
	Since string
}

// stripCell is one run of evaluations with the same diagnosis.
type stripCell struct {
	X, W       int
	Class      string // c-none, c-ok, c-warn, c-crit, c-idle
	Change     bool
	Title      string
	Diagnosis  string
	Start, End string // the first and last window's end, RFC 3339
	Count      int    // evaluations in the run
}

const timeFormat = "2006-01-02 15:04:05Z07:00"

const rfc3339Z = "2006-01-02T15:04:05Z"

// newStrip draws points (oldest first) in size cells of cellW pixels.
func newStrip(points []HistoryPoint, size, cellW, h int) *strip {
	if len(points) == 0 {
		return nil
	}
	s := &strip{W: size * cellW, H: h, Size: size}
	off := size - len(points)
	var prev *HistoryPoint // the last point with the series
	var since *HistoryPoint
	for i := 0; i < len(points); {
		p := &points[i]
		j := i + 1
		for j < len(points) && points[j].Present == p.Present &&
			(!p.Present || points[j].Diagnosis == p.Diagnosis && cellClass(points[j]) == cellClass(*p)) {
			j++
		}
		last := &points[j-1]
		c := stripCell{X: (off + i) * cellW, W: (j - i) * cellW, Class: cellClass(*p), Count: j - i,
			Start: p.WindowEnd.UTC().Format(rfc3339Z), End: last.WindowEnd.UTC().Format(rfc3339Z)}
		span := "the window ending " + p.WindowEnd.UTC().Format(timeFormat)
		if j-i > 1 {
			span = fmt.Sprintf("%d windows ending %s to %s", j-i, p.WindowEnd.UTC().Format(timeFormat), last.WindowEnd.UTC().Format("15:04:05"))
		}
		switch {
		case !p.Present:
			c.Title = "not in the evaluation of " + span
		case prev != nil && prev.Diagnosis != p.Diagnosis:
			c.Diagnosis, c.Change = string(p.Diagnosis), true
			c.Title = fmt.Sprintf("changed to %s (%s) from %s at the window ending %s (evaluated %s); %s",
				p.Diagnosis, p.Severity, prev.Diagnosis, p.WindowEnd.UTC().Format(timeFormat), p.EvaluatedAt.UTC().Format("15:04:05"), span)
			since = p
		case prev != nil && cellClass(*prev) != cellClass(*p):
			c.Diagnosis, c.Change = string(p.Diagnosis), true
			c.Title = fmt.Sprintf("%s went from %s to %s at the window ending %s (evaluated %s); %s",
				p.Diagnosis, prev.Severity, p.Severity, p.WindowEnd.UTC().Format(timeFormat), p.EvaluatedAt.UTC().Format("15:04:05"), span)
		default:
			c.Diagnosis = string(p.Diagnosis)
			c.Title = fmt.Sprintf("%s (%s): %s", p.Diagnosis, p.Severity, span)
			if prev == nil || prev.Diagnosis != p.Diagnosis {
				since = p
			}
		}
		if last.Present {
			prev = last
		}
		s.Cells = append(s.Cells, c)
		i = j
	}
	if since != nil {
		if since == &points[0] {
			s.Since = fmt.Sprintf("%s over all %d evaluations kept", since.Diagnosis, len(points))
		} else {
			s.Since = fmt.Sprintf("%s since the window ending %s", since.Diagnosis, since.WindowEnd.UTC().Format("15:04:05"))
		}
	}
	return s
}

func cellClass(p HistoryPoint) string {
	switch {
	case !p.Present:
		return "c-none"
	case p.Diagnosis == drift.InsufficientData || p.Diagnosis == drift.NoBaseline:
		return "c-idle"
	case p.Severity >= drift.Critical:
		return "c-crit"
	case p.Severity >= drift.Warning:
		return "c-warn"
	}
	return "c-ok"
}
