package stream

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"
)

// FuzzDecode checks that any message either fails with a known reason or
// decodes to an event that keeps the decoder's promises. The limits are
// small so that the fuzzer reaches them.
//
//	go test ./pkg/stream -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"ts": "2026-11-25T10:00:00.123Z", "model": "ranker", "model_version": "v4",
		  "features": {"age": 0.41, "income": -1.2, "retrieval_score": 0.83},
		  "raw": {"income": 52000},
		  "embeddings": {"query": [0.013, -0.2, 0.07], "doc": "b64f32:AACAPwAAAEA="}}`,
		`{"ts":1795600800123,"model":"m","model_version":4,"features":{"a":null,"b":"x","c":true,"d":{"e":[1]},"f":NaN}}`,
		`{"features":{"a":1}}`,
		`{"model":"m","model_version":"v1","features":{"a":1,"a":2}}`,
		`{"model":"m","model_version":"v1","embeddings":{"e":"b64f32:AAAAAAA="}}`,
		`{"model":"m","model_version":"v1","embeddings":{"e":"b64f32:AAAA!AAAAAA="}}`,
		`{"model":"m","model_version":"v1","embeddings":{"e":[1,"2",null]}}`,
		`{"model":"m","model_version":"v1","features":{"caf\u00e9":1,"\ud800":2}}`,
		"{\"model\":\"m\",\"model_version\":\"v1\",\"features\":{\"a\xff\":1}}",
		`{"model":"m","model_version":"v1","x":[[[[[[[[[[1]]]]]]]]]]}`,
		`{"ts":"25/11/2026","model":"m","model_version":"v1"}`,
		`{"ts":1e300,"model":"m","model_version":"v1"}`,
		`{"model":"` + strings.Repeat("m", 40) + `","model_version":"v1"}`,
		`{"model":"m","model_version":"v1","features":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9}}`,
		`{"model":"m","model_version":"v1","features":{"a":1.2.3}}`,
		`[1,2]`,
		`{"model":"m"`,
		``,
		`null`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "hdr-model", "hdr-v")
	}
	opts := DecoderOptions{
		MaxMessageBytes: 4096, MaxFeatures: 8, MaxEmbeddings: 4, MaxDim: 16,
		MaxDepth: 8, MaxNameBytes: 16, MaxNames: 8,
	}
	shared, err := NewDecoder(opts)
	if err != nil {
		f.Fatal(err)
	}
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	var ev Event
	f.Fuzz(func(t *testing.T, msg []byte, model, version string) {
		fb := Fallback{Time: kafkaTime, Headers: []kafka.Header{
			{Key: "model", Value: []byte(model)}, {Key: "model_version", Value: []byte(version)},
		}}
		err := shared.Decode(msg, fb, &ev)

		// A fresh decoder agrees with the one that has decoded before.
		fresh, _ := NewDecoder(opts)
		var ev2 Event
		err2 := fresh.Decode(msg, fb, &ev2)
		if (err == nil) != (err2 == nil) || ReasonOf(err) != ReasonOf(err2) {
			t.Fatalf("shared decoder: %v; fresh decoder: %v", err, err2)
		}

		if err != nil {
			if !known[ReasonOf(err)] {
				t.Fatalf("error without a known reason: %v", err)
			}
			return
		}
		requireEvent(t, ev2, ev)
		checkName := func(what, s string) {
			if s == "" || len(s) > opts.MaxNameBytes || !utf8.ValidString(s) {
				t.Fatalf("%s name %q breaks the rules", what, s)
			}
		}
		checkName("model", ev.Model)
		checkName("version", ev.Version)
		if ev.TimeSource == TimeNone || ev.Time.Location().String() != "UTC" {
			t.Fatalf("time %v from source %d", ev.Time, ev.TimeSource)
		}
		for _, fs := range [][]FeatureValue{ev.Features, ev.Raw} {
			if len(fs) > opts.MaxFeatures {
				t.Fatalf("%d features", len(fs))
			}
			names := map[string]bool{}
			for _, fv := range fs {
				checkName("feature", fv.Name)
				if names[fv.Name] {
					t.Fatalf("feature %q twice", fv.Name)
				}
				names[fv.Name] = true
				if (fv.Missing || fv.TypeError) && (fv.Value != 0 || fv.Missing == fv.TypeError) {
					t.Fatalf("inconsistent feature %+v", fv)
				}
			}
		}
		if len(ev.Embeddings) > opts.MaxEmbeddings {
			t.Fatalf("%d embeddings", len(ev.Embeddings))
		}
		names := map[string]bool{}
		for _, e := range ev.Embeddings {
			checkName("embedding", e.Name)
			if names[e.Name] {
				t.Fatalf("embedding %q twice", e.Name)
			}
			names[e.Name] = true
			if e.Missing != (len(e.Values) == 0) || len(e.Values) > opts.MaxDim {
				t.Fatalf("embedding %q: missing %v with %d values", e.Name, e.Missing, len(e.Values))
			}
		}
	})
}
