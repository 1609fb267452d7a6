package export

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo is what normwatch_build_info says of the running binary.
type BuildInfo struct {
	Version   string // v0.1.0, a pseudo-version, or "(devel)"
	Revision  string // the commit built, "unknown" when the go command recorded none
	GoVersion string // go1.26.x
}

// ReadBuildInfo returns the running binary's build info. stamped is the
// version a release build sets with -ldflags "-X main.version=v0.1.0" (""
// otherwise); without it the version is the module version the go command
// recorded: the tag for `go install .../cmd/monitor@v0.1.0`, a
// pseudo-version or "(devel)" for a build in a checkout. The revision is
// the go command's vcs.revision (a build in a git checkout; "unknown" for
// one from the module proxy, which records no VCS), with "-dirty" when the
// checkout had uncommitted changes.
func ReadBuildInfo(stamped string) BuildInfo {
	b := BuildInfo{Version: stamped, Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "unknown"
		}
		return b
	}
	if b.Version == "" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	if bi.GoVersion != "" {
		b.GoVersion = bi.GoVersion
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Revision != "unknown" {
		b.Revision += "-dirty"
	}
	return b
}

// NewBuildInfoCollector returns normwatch_build_info{version,revision,goversion},
// always 1: the labels say which build is running, for dashboards and for
// joins (`* on(instance) group_left(version) normwatch_build_info`).
func NewBuildInfoCollector(b BuildInfo) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "A metric with a constant 1 whose labels name the running build: version, revision (commit) and Go version.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}
