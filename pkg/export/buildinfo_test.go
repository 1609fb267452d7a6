package export

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

func TestReadBuildInfo(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	require.True(t, ok, "test binaries carry build info")
	for _, tc := range []struct {
		name    string
		stamped string
		want    string
	}{
		{name: "stamped by a release build", stamped: "v1.2.3", want: "v1.2.3"},
		{name: "the go command's module version", stamped: "", want: bi.Main.Version},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ReadBuildInfo(tc.stamped)
			require.Equal(t, tc.want, b.Version)
			require.NotEmpty(t, b.Version)
			require.Equal(t, bi.GoVersion, b.GoVersion)
			require.True(t, strings.HasPrefix(b.GoVersion, "go"), b.GoVersion)
			require.NotEmpty(t, b.Revision)
		})
	}
	require.Equal(t, runtime.Version(), ReadBuildInfo("").GoVersion)
}

func TestBuildInfoCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBuildInfoCollector(BuildInfo{Version: "v0.1.0", Revision: "903b5c6ff899", GoVersion: "go1.26.8"}))
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP normwatch_build_info A metric with a constant 1 whose labels name the running build: version, revision (commit) and Go version.
# TYPE normwatch_build_info gauge
normwatch_build_info{goversion="go1.26.8",revision="903b5c6ff899",version="v0.1.0"} 1
`)))
}
