package export

import (
	"encoding/json"
	"strings"
)

// exampleEvent is the empty state's example: one event for a loaded
// baseline's model version, and the command that sends it.
type exampleEvent struct {
	JSON    string
	Command string
	// Omitted names the embeddings left out for their size.
	Omitted []string
}

// Most features and embedding dimensions written into the example.
const (
	exampleFeatures = 8
	exampleDim      = 8
)

// newExample writes an event for the first loaded baseline (or for a
// model "ranker" version "v1" without one), with every feature at 0 and
// each small embedding a unit vector, and a kcat command sending it to
// the first broker and topic.
func newExample(in Intake) *exampleEvent {
	model, version := "ranker", "v1"
	feats := []string{"age", "income"}
	var embs []string
	dims := map[string]int{}
	if len(in.Baselines) > 0 {
		b := in.Baselines[0]
		model, version, feats, embs, dims = b.Model, b.Version, b.Features, b.Embeddings, b.Dims
	}
	ex := &exampleEvent{}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var sb strings.Builder
	sb.WriteString(`{"model": ` + q(model) + `, "model_version": ` + q(version) + `, "features": {`)
	for i, f := range feats {
		if i == exampleFeatures {
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(q(f) + ": 0")
	}
	sb.WriteString("}")
	first := true
	for _, e := range embs {
		d := dims[e]
		if d < 1 || d > exampleDim {
			ex.Omitted = append(ex.Omitted, e)
			continue
		}
		if first {
			sb.WriteString(`, "embeddings": {`)
		} else {
			sb.WriteString(", ")
		}
		first = false
		sb.WriteString(q(e) + ": [1")
		sb.WriteString(strings.Repeat(", 0", d-1))
		sb.WriteString("]")
	}
	if !first {
		sb.WriteString("}")
	}
	sb.WriteString("}")
	ex.JSON = sb.String()
	broker, topic := "localhost:9092", "normwatch.events"
	if len(in.Brokers) > 0 {
		broker = in.Brokers[0]
	}
	if len(in.Topics) > 0 {
		topic = in.Topics[0]
	}
	ex.Command = "echo '" + strings.ReplaceAll(ex.JSON, "'", `'\''`) + "' | kcat -P -b " + broker + " -t " + topic
	return ex
}
