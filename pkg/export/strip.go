package export

import (
	"fmt"

	"github.com/normwatch/normwatch/pkg/drift"
)

// strip is a history strip: one cell per evaluation the History keeps,
// the newest on the right, coloured by severity, each with its time and
// diagnosis as a tooltip (an SVG title, shown on hover); a change of
// diagnosis is marked and its tooltip says when it happened.
type strip struct {
	W, H  int
	Size  int // cells the strip has room for
	Cells []stripCell
	// Since says what the series is now and since when.
	Since string
}

type stripCell struct {
	X, W      int
	Class     string // c-none, c-ok, c-warn, c-crit, c-idle
	Change    bool
	Title     string
	Diagnosis string
	End       string // the window's end, RFC 3339
}

const timeFormat = "2006-01-02 15:04:05Z07:00"

// newStrip draws points (oldest first) in size cells of cellW pixels.
func newStrip(points []HistoryPoint, size, cellW, h int) *strip {
	if len(points) == 0 {
		return nil
	}
	s := &strip{W: size * cellW, H: h, Size: size}
	off := size - len(points)
	var prev *HistoryPoint
	var since *HistoryPoint
	for i := range points {
		p := &points[i]
		c := stripCell{X: (off + i) * cellW, W: cellW, Class: cellClass(*p), End: p.WindowEnd.UTC().Format("2006-01-02T15:04:05Z")}
		when := "window ending " + p.WindowEnd.UTC().Format(timeFormat)
		switch {
		case !p.Present:
			c.Title = when + ": not in this evaluation"
		case prev == nil || !prev.Present || prev.Diagnosis != p.Diagnosis:
			c.Diagnosis = string(p.Diagnosis)
			c.Title = fmt.Sprintf("%s: %s (%s)", when, p.Diagnosis, p.Severity)
			if prev != nil && prev.Present {
				c.Change = true
				c.Title = fmt.Sprintf("changed to %s (%s) from %s at the %s (evaluated %s)",
					p.Diagnosis, p.Severity, prev.Diagnosis, when, p.EvaluatedAt.UTC().Format("15:04:05"))
			}
			since = p
		default:
			c.Diagnosis = string(p.Diagnosis)
			c.Title = fmt.Sprintf("%s: %s (%s)", when, p.Diagnosis, p.Severity)
		}
		if p.Present {
			prev = p
		}
		s.Cells = append(s.Cells, c)
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
