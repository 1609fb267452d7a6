package export

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/drift"
	"github.com/normwatch/normwatch/pkg/engine"
)

func gateAnswers() []engine.GateAnswer {
	live := &engine.LiveComparison{Version: "v3", Selected: "most_traffic", Report: drift.Report{
		Features:   []drift.FeatureReport{{Name: "income", Diagnosis: drift.UnscaledInput, Severity: drift.Critical}},
		Embeddings: []drift.EmbeddingReport{{Name: "query", Diagnosis: drift.OK}},
	}}
	return []engine.GateAnswer{
		{Model: "ranker", Version: "v4", State: engine.GateBlocked, Code: 2, Live: "v3", LiveSelected: "most_traffic", WindowsCompared: 1, MinWindows: 3,
			AgainstLive: live, Reasons: []engine.GateReason{{Against: "live", Feature: "income", Severity: drift.Critical, Sentence: "income on ranker v4 against live v3: skipped."}},
			WindowStart: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), WindowEnd: time.Date(2026, 12, 2, 10, 1, 0, 0, time.UTC)},
		{Model: "search", Version: "v3", State: engine.GatePending, Code: 3, MinWindows: 3,
			Reasons: []engine.GateReason{{Against: "evidence", Sentence: "search v3 is a declared candidate with no events yet"}}},
	}
}

// TestGateCollector: the candidates' series, exactly, and none of a
// subject for a candidate without a comparison with live.
func TestGateCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewGateCollector(gateAnswers))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP normwatch_candidate_gate The gate's answer for a candidate version: 0 clear, 1 warning, 2 blocked, 3 pending (the exit status of monitor gate).
# TYPE normwatch_candidate_gate gauge
normwatch_candidate_gate{model="ranker",model_version="v4"} 2
normwatch_candidate_gate{model="search",model_version="v3"} 3
# HELP normwatch_candidate_live_info The live version a candidate was last compared with: always 1.
# TYPE normwatch_candidate_live_info gauge
normwatch_candidate_live_info{live_version="v3",model="ranker",model_version="v4"} 1
# HELP normwatch_candidate_status Status of a candidate's feature or embedding against the live version on the same windows: 0 ok, 1 warning, 2 critical; the diagnosis label names the cause.
# TYPE normwatch_candidate_status gauge
normwatch_candidate_status{diagnosis="ok",embedding="query",feature="",model="ranker",model_version="v4"} 0
normwatch_candidate_status{diagnosis="unscaled_input",embedding="",feature="income",model="ranker",model_version="v4"} 2
# HELP normwatch_candidate_windows_compared Windows of the candidate compared with the live version so far (since the live version last changed, or the daemon started).
# TYPE normwatch_candidate_windows_compared gauge
normwatch_candidate_windows_compared{model="ranker",model_version="v4"} 1
normwatch_candidate_windows_compared{model="search",model_version="v3"} 0
`)))
}

func TestGateLine(t *testing.T) {
	as := gateAnswers()
	require.Equal(t, "ranker v4: blocked (exit 2), against live v3 (the most traffic), 1 window compared (3 needed), last window 2026-12-02 10:00:00 to 10:01:00Z", GateLine(as[0]))
	require.Equal(t, "search v3: pending (exit 3), no live version yet, 0 windows compared (3 needed)", GateLine(as[1]))
	vs := gateViews(as)
	require.Equal(t, "s2", vs[0].Class)
	require.Equal(t, "s1", vs[1].Class)
	require.Equal(t, "income on ranker v4 against live v3: skipped.", vs[0].Reason)
}
