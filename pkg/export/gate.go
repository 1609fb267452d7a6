package export

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/normwatch/normwatch/pkg/engine"
)

// GateFunc gives the gate's answer for every candidate version
// (engine.Engine.Gates); it must be safe for concurrent use.
type GateFunc func() []engine.GateAnswer

var (
	gateLabels        = []string{"model", "model_version"}
	descCandidateGate = desc("candidate_gate", "The gate's answer for a candidate version: 0 clear, 1 warning, 2 blocked, 3 pending (the exit status of monitor gate).", gateLabels)
	descCandidateWins = desc("candidate_windows_compared", "Windows of the candidate compared with the live version so far (since the live version last changed, or the daemon started).", gateLabels)
	descCandidateLive = desc("candidate_live_info", "The live version a candidate was last compared with: always 1.", gateLabels, "live_version")
	descCandidateStat = desc("candidate_status", "Status of a candidate's feature or embedding against the live version on the same windows: 0 ok, 1 warning, 2 critical; the diagnosis label names the cause.",
		[]string{"model", "model_version", "feature", "embedding", "diagnosis"})
)

// GateCollector exports the candidates' gates, computed at scrape time:
// normwatch_candidate_gate, normwatch_candidate_windows_compared,
// normwatch_candidate_live_info and normwatch_candidate_status.
type GateCollector struct{ gates GateFunc }

// NewGateCollector returns the collector of gates' answers.
func NewGateCollector(gates GateFunc) *GateCollector { return &GateCollector{gates: gates} }

var _ prometheus.Collector = (*GateCollector)(nil)

// Describe sends the descriptors of the candidates' metrics.
func (c *GateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCandidateGate, descCandidateWins, descCandidateLive, descCandidateStat} {
		ch <- d
	}
}

// Collect sends the candidates' answers.
func (c *GateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.gates() {
		ch <- prometheus.MustNewConstMetric(descCandidateGate, prometheus.GaugeValue, float64(a.Code), a.Model, a.Version)
		ch <- prometheus.MustNewConstMetric(descCandidateWins, prometheus.GaugeValue, float64(a.WindowsCompared), a.Model, a.Version)
		if a.Live != "" {
			ch <- prometheus.MustNewConstMetric(descCandidateLive, prometheus.GaugeValue, 1, a.Model, a.Version, a.Live)
		}
		if a.AgainstLive == nil || a.Stale {
			continue
		}
		for _, f := range a.AgainstLive.Report.Features {
			ch <- prometheus.MustNewConstMetric(descCandidateStat, prometheus.GaugeValue, float64(f.Severity), a.Model, a.Version, f.Name, "", string(f.Diagnosis))
		}
		for _, e := range a.AgainstLive.Report.Embeddings {
			ch <- prometheus.MustNewConstMetric(descCandidateStat, prometheus.GaugeValue, float64(e.Severity), a.Model, a.Version, "", e.Name, string(e.Diagnosis))
		}
	}
}

// GateLine is the answer's first line for people: the state, its exit
// status, the live version and the windows seen.
func GateLine(a engine.GateAnswer) string {
	live := "no live version yet"
	if a.Live != "" {
		live = "against live " + a.Live
		if a.LiveSelected == "most_traffic" {
			live += " (the most traffic)"
		}
	}
	windows := "windows"
	if a.WindowsCompared == 1 {
		windows = "window"
	}
	s := fmt.Sprintf("%s %s: %s (exit %d), %s, %d %s compared (%d needed)", a.Model, a.Version, a.State, a.Code, live, a.WindowsCompared, windows, a.MinWindows)
	if !a.WindowEnd.IsZero() {
		s += ", last window " + a.WindowStart.Format("2006-01-02 15:04:05") + " to " + a.WindowEnd.Format("15:04:05Z07:00")
	}
	if a.Stale {
		s += ", stale"
	}
	return s
}

// gateView is a candidate's row on the status page.
type gateView struct {
	engine.GateAnswer
	Line   string
	Reason string // the first reason, if any
	Class  string // s0 clear, s1 warning or pending, s2 blocked
}

func gateViews(as []engine.GateAnswer) []gateView {
	out := make([]gateView, 0, len(as))
	for _, a := range as {
		v := gateView{GateAnswer: a, Line: GateLine(a), Class: "s" + strconv.Itoa(min(a.Code, 1))}
		if a.State == engine.GateBlocked {
			v.Class = "s2"
		}
		if len(a.Reasons) > 0 {
			v.Reason = a.Reasons[0].Sentence
			if n := len(a.Reasons); n > 1 {
				v.Reason += fmt.Sprintf(" (and %d more)", n-1)
			}
		}
		out = append(out, v)
	}
	return out
}
