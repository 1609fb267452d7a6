package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/normwatch/normwatch/pkg/baseline"
	"github.com/normwatch/normwatch/pkg/export"
)

// horizon answers /api/v1/horizon?model=&model_version=: the merged
// sketches of the last evaluated horizon of a model version, as a document
// in the baseline format (source kind pinned, from the daemon), which
// `monitor baseline pin --from-daemon` freezes as a new baseline version.
// The declared normalizations are those of the version's own baseline,
// when it has one.
func (d *daemon) horizon(r *http.Request) (any, error) {
	model, version := r.URL.Query().Get("model"), r.URL.Query().Get("model_version")
	if model == "" || version == "" {
		return nil, &export.APIError{Code: http.StatusBadRequest, Msg: "model and model_version are required"}
	}
	set, info, ok := d.engine.Horizon(model, version)
	if !ok {
		return nil, &export.APIError{Code: http.StatusNotFound,
			Msg: fmt.Sprintf("no evaluated horizon for model %q version %q (not tracked, or no window closed yet)", model, version)}
	}
	if bl, ok := d.store.Lookup(model, version); ok {
		bl.Declare(set)
	}
	b, err := baseline.HorizonBaseline(baseline.PinRequest{
		Model: model, Version: version, Current: set, From: "daemon horizon",
		WindowStart: info.Start, WindowEnd: info.End, Rows: info.Events,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the horizon of %s %s: %w", model, version, err)
	}
	data, err := b.Encode()
	if err != nil {
		return nil, fmt.Errorf("encoding the horizon of %s %s: %w", model, version, err)
	}
	return json.RawMessage(data), nil
}
