package alert

import (
	"context"
	"log/slog"
)

// LogSink writes one structured line per state change.
type LogSink struct {
	Logger *slog.Logger
}

// Notify logs each change: firing at warn level, the rest (and an alert
// taken over still firing) at info.
func (s LogSink) Notify(changes []Change) {
	for _, c := range changes {
		level := slog.LevelInfo
		if c.To == Firing {
			level = slog.LevelWarn
		}
		msg := "alert " + c.To.String()
		switch {
		case c.From == Firing && c.To == Inactive:
			msg = "alert resolved"
		case c.From == Firing && c.To == Firing:
			// Taken over with the evaluation stage partition that judges
			// its version: it was firing where it was judged before.
			level, msg = slog.LevelInfo, "alert firing, taken over"
		}
		s.Logger.Log(context.Background(), level, msg,
			"alertname", c.Alert.Labels.Get("alertname"),
			"model", c.Alert.Labels.Get("model"),
			"model_version", c.Alert.Labels.Get("model_version"),
			"feature", c.Alert.Labels.Get("feature"),
			"embedding", c.Alert.Labels.Get("embedding"),
			"severity", c.Alert.Labels.Get("severity"),
			"diagnosis", c.Alert.Labels.Get("diagnosis"),
			"fingerprint", c.Alert.Fingerprint(),
			"summary", c.Alert.Annotations["summary"])
	}
}
