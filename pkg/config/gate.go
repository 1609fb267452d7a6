package config

import (
	"fmt"
	"strings"
	"time"
)

// Gate declares candidate (shadow) model versions: each is compared with
// the live version of its model on the same windows, beside its own
// baseline, and `monitor gate` (/api/v1/gate) answers clear, warning,
// blocked or pending for it.
type Gate struct {
	// Candidates are the model versions held as candidates. A list of
	// objects, so it is set in the file only.
	Candidates []Candidate `mapstructure:"candidates"`
	// MinWindows is how many of the candidate's windows compared with
	// live it takes to answer clear or warning (pending before); a
	// critical finding blocks at once.
	MinWindows int `mapstructure:"min_windows"`
	// JoinBuffer is how many events of one model, per partition, wait
	// for the other side of their request id; JoinWait how long, in
	// event time (candidate and live joined by request id).
	JoinBuffer int           `mapstructure:"join_buffer"`
	JoinWait   time.Duration `mapstructure:"join_wait"`
	// RouteHeader is the message header that marks an event's version a
	// candidate when it holds one of CandidateRoutes ("-": none).
	RouteHeader     string   `mapstructure:"route_header"`
	CandidateRoutes []string `mapstructure:"candidate_routes"`
}

// Candidate is one declared candidate: model and version, and the live
// version it is compared with (empty: the version of the model with the
// most events in the candidate's horizon that is not a candidate).
type Candidate struct {
	Model        string `mapstructure:"model"`
	ModelVersion string `mapstructure:"model_version"`
	LiveVersion  string `mapstructure:"live_version"`
}

func defaultGate() Gate {
	return Gate{Candidates: []Candidate{}, MinWindows: 3, JoinBuffer: 10_000, JoinWait: 2 * time.Minute, RouteHeader: "route", CandidateRoutes: []string{"shadow", "candidate"}}
}

// validateGate reports every bad key of the gate section through bad,
// naming it: gate.candidates[1].model_version.
func validateGate(g Gate, bad func(key, format string, args ...any)) {
	if g.MinWindows < 1 || g.MinWindows > 10_000 {
		bad("gate.min_windows", "%d is out of range [1, 10000]", g.MinWindows)
	}
	if g.JoinBuffer < 1 || g.JoinBuffer > 10_000_000 {
		bad("gate.join_buffer", "%d is out of range [1, 10000000]", g.JoinBuffer)
	}
	if g.JoinWait < time.Millisecond || g.JoinWait > 24*time.Hour {
		bad("gate.join_wait", "%s is out of range [1ms, 24h]", g.JoinWait)
	}
	if g.RouteHeader == "" {
		bad("gate.route_header", `must not be empty; "-" reads no header`)
	}
	if g.RouteHeader != "-" && len(g.CandidateRoutes) == 0 {
		bad("gate.candidate_routes", "is empty, so gate.route_header %q marks nothing; give the values (such as shadow) or set gate.route_header to \"-\"", g.RouteHeader)
	}
	for i, r := range g.CandidateRoutes {
		if strings.TrimSpace(r) == "" {
			bad(fmt.Sprintf("gate.candidate_routes[%d]", i), "is empty; want a header value such as shadow")
		}
	}
	seen := map[[2]string]int{}
	for i, c := range g.Candidates {
		key := fmt.Sprintf("gate.candidates[%d]", i)
		if c.Model == "" {
			bad(key+".model", "is required: the model whose version is the candidate")
		}
		if c.ModelVersion == "" {
			bad(key+".model_version", "is required: the candidate version")
		}
		if c.LiveVersion != "" && c.LiveVersion == c.ModelVersion {
			bad(key+".live_version", "%q is the candidate itself; name the version serving users, or leave it out to take the one with the most traffic", c.LiveVersion)
		}
		k := [2]string{c.Model, c.ModelVersion}
		if j, dup := seen[k]; dup && c.Model != "" && c.ModelVersion != "" {
			bad(key, "declares %s %s again (as gate.candidates[%d] does)", c.Model, c.ModelVersion, j)
		}
		seen[k] = i
	}
}
