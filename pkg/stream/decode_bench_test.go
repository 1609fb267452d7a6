package stream

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bytedance/sonic"
	gojson "github.com/goccy/go-json"
)

// This benchmark chose the JSON parser. Each candidate decodes the same
// messages all the way to an Event (timestamp, names, numbers, embeddings
// with the same base64 step), so the figures compare whole decoders:
//
//	go test ./pkg/stream -run '^$' -bench BenchmarkDecode -benchmem -benchtime 1s -count 3
//
// "fastjson" is Decoder; the others unmarshal into a map[string]any or into
// a struct of the event's fields (features as map[string]any, so that one
// non-number does not fail the message), then convert.

type benchShape struct {
	name string
	msg  []byte
}

func benchShapes() []benchShape {
	r := rand.New(rand.NewPCG(1, 2))
	var feats strings.Builder
	feats.WriteString(`"features":{`)
	for i := range 20 {
		if i > 0 {
			feats.WriteByte(',')
		}
		fmt.Fprintf(&feats, `"feature_%02d":%.9g`, i, r.NormFloat64()*3)
	}
	feats.WriteByte('}')
	head := `{"ts":"2026-11-25T10:00:00.123Z","model":"ranker","model_version":"v4",` + feats.String()

	vec := make([]float32, 384)
	for i := range vec {
		vec[i] = float32(r.NormFloat64() / math.Sqrt(384))
	}
	var arr strings.Builder
	arr.WriteByte('[')
	for i, x := range vec {
		if i > 0 {
			arr.WriteByte(',')
		}
		fmt.Fprintf(&arr, "%v", x)
	}
	arr.WriteByte(']')

	return []benchShape{
		{"20f", []byte(head + `}`)},
		{"20f+b64f32x384", []byte(head + `,"embeddings":{"query":"` + b64f32(vec...) + `"}}`)},
		{"20f+jsonx384", []byte(head + `,"embeddings":{"query":` + arr.String() + `}}`)},
	}
}

// genericEvent is the struct the map-free competitors unmarshal into.
type genericEvent struct {
	TS         any            `json:"ts"`
	Model      string         `json:"model"`
	Version    string         `json:"model_version"`
	Features   map[string]any `json:"features"`
	Raw        map[string]any `json:"raw"`
	Embeddings map[string]any `json:"embeddings"`
}

func fromMap(m map[string]any, ev *Event) error {
	g := genericEvent{TS: m["ts"]}
	g.Model, _ = m["model"].(string)
	g.Version, _ = m["model_version"].(string)
	g.Features, _ = m["features"].(map[string]any)
	g.Raw, _ = m["raw"].(map[string]any)
	g.Embeddings, _ = m["embeddings"].(map[string]any)
	return fromStruct(&g, ev)
}

func fromStruct(g *genericEvent, ev *Event) error {
	ev.Reset()
	switch ts := g.TS.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return err
		}
		ev.Time, ev.TimeSource = t.UTC(), TimePayload
	case float64:
		ev.Time, ev.TimeSource = time.UnixMilli(int64(ts)).UTC(), TimePayload
	}
	ev.Model, ev.Version = g.Model, g.Version
	conv := func(m map[string]any, dst []FeatureValue) []FeatureValue {
		for k, v := range m {
			f := FeatureValue{Name: k}
			switch x := v.(type) {
			case float64:
				f.Value = x
			case nil:
				f.Missing = true
			default:
				f.TypeError = true
			}
			dst = append(dst, f)
		}
		return dst
	}
	ev.Features = conv(g.Features, ev.Features)
	ev.Raw = conv(g.Raw, ev.Raw)
	for k, v := range g.Embeddings {
		e := EmbeddingValue{Name: k}
		switch x := v.(type) {
		case []any:
			e.Values = make([]float32, len(x))
			for i, y := range x {
				f, ok := y.(float64)
				if !ok {
					return fmt.Errorf("not a number")
				}
				e.Values[i] = float32(f)
			}
		case string:
			b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(x, B64F32Prefix))
			if err != nil {
				return err
			}
			e.Values = make([]float32, len(b)/4)
			for i := range e.Values {
				e.Values[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		}
		ev.Embeddings = append(ev.Embeddings, e)
	}
	return nil
}

func BenchmarkDecode(b *testing.B) {
	type parser struct {
		name   string
		decode func(msg []byte, ev *Event) error
	}
	d, err := NewDecoder(DecoderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	fb := Fallback{Time: kafkaTime}
	viaMap := func(unmarshal func([]byte, any) error) func([]byte, *Event) error {
		return func(msg []byte, ev *Event) error {
			var m map[string]any
			if err := unmarshal(msg, &m); err != nil {
				return err
			}
			return fromMap(m, ev)
		}
	}
	viaStruct := func(unmarshal func([]byte, any) error) func([]byte, *Event) error {
		return func(msg []byte, ev *Event) error {
			var g genericEvent
			if err := unmarshal(msg, &g); err != nil {
				return err
			}
			return fromStruct(&g, ev)
		}
	}
	parsers := []parser{
		{"fastjson", func(msg []byte, ev *Event) error { return d.Decode(msg, fb, ev) }},
		{"encoding-json-map", viaMap(json.Unmarshal)},
		{"encoding-json-struct", viaStruct(json.Unmarshal)},
		{"goccy-go-json-struct", viaStruct(gojson.Unmarshal)},
		{"sonic-struct", viaStruct(sonic.Unmarshal)},
	}
	for _, p := range parsers {
		for _, s := range benchShapes() {
			b.Run(p.name+"/"+s.name, func(b *testing.B) {
				var ev Event
				b.SetBytes(int64(len(s.msg)))
				b.ReportAllocs()
				for b.Loop() {
					if err := p.decode(s.msg, &ev); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
