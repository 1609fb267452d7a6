package main

import (
	"log/slog"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/export"
)

// logStart logs the baselines the store serves at start, and each file it
// refused.
func logStart(logger *slog.Logger, s *baseline.Store) {
	if len(s.Keys()) == 0 {
		logger.Warn("no baselines: versions are compared with their previous version or only reported", "dir", s.Dir())
	}
	for _, k := range s.Keys() {
		e, _ := s.Entry(k.Model, k.Version)
		logger.Info("baseline loaded", "model", k.Model, "model_version", k.Version, "id", e.Baseline.ID(), "file", e.Path)
	}
	logRefused(logger, s.Refused())
}

// logReload logs what a reload changed, by what it was triggered (the
// watch, SIGHUP): a line per baseline loaded, replaced, removed or kept,
// at INFO, and per file refused, at ERROR. A reload that changed nothing
// logs nothing; one that could not read the directory logs that.
func logReload(logger *slog.Logger, trigger string, rep *baseline.ReloadReport, err error) {
	if err != nil {
		logger.Error("reloading baselines failed; serving the previous ones", "trigger", trigger, "err", err)
	}
	if rep == nil {
		return
	}
	for _, l := range []struct {
		msg     string
		entries []baseline.Entry
	}{
		{"baseline loaded", rep.Loaded},
		{"baseline replaced", rep.Replaced},
		{"baseline removed with its file", rep.Removed},
		{"baseline kept: its file is refused now", rep.Kept},
	} {
		for _, e := range l.entries {
			logger.Info(l.msg, "trigger", trigger, "model", e.Baseline.Model, "model_version", e.Baseline.ModelVersion,
				"id", e.Baseline.ID(), "file", e.Path)
		}
	}
	for _, path := range rep.Cleared {
		logger.Info("baseline file no longer refused (fixed or removed)", "trigger", trigger, "file", path)
	}
	logRefused(logger.With("trigger", trigger), rep.Refused)
}

func logRefused(logger *slog.Logger, refused []baseline.Refusal) {
	for _, r := range refused {
		args := []any{"file", r.Path, "err", r.Err}
		if r.Key != nil {
			args = append(args, "model", r.Key.Model, "model_version", r.Key.Version)
		}
		logger.Error("baseline file refused; the others are served", args...)
	}
}

// baselineNotices are the status page's notices of refused files.
func baselineNotices(s *baseline.Store) []export.Notice {
	var out []export.Notice
	for _, r := range s.Refused() {
		out = append(out, export.Notice{Title: "baseline file refused", Detail: r.Err.Error()})
	}
	return out
}
