package stream

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// b64f32 encodes xs as an embedding string.
func b64f32(xs ...float32) string {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return B64F32Prefix + base64.StdEncoding.EncodeToString(b)
}

var kafkaTime = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func num(name string, v float64) FeatureValue { return FeatureValue{Name: name, Value: v} }

func TestDecode(t *testing.T) {
	headers := []kafka.Header{{Key: "model", Value: []byte("hdr-model")}, {Key: "model_version", Value: []byte("hv9")}}
	tests := []struct {
		name    string
		opts    DecoderOptions
		msg     string
		fb      Fallback
		want    Event  // compared when reason is empty
		reason  Reason // the expected error's reason
		errPart string // a substring of the expected error
	}{
		{
			name: "design example",
			msg: `{"ts": "2026-11-25T10:00:00.123Z", "model": "ranker", "model_version": "v4",
			  "features": {"age": 0.41, "income": -1.2, "retrieval_score": 0.83},
			  "raw": {"income": 52000},
			  "embeddings": {"query": [0.013, -0.2, 0.07], "doc": "b64f32:AACAPwAAAEA="}}`,
			fb: Fallback{Time: kafkaTime},
			want: Event{
				Time:       time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC),
				TimeSource: TimePayload,
				Model:      "ranker", Version: "v4",
				Features: []FeatureValue{num("age", 0.41), num("income", -1.2), num("retrieval_score", 0.83)},
				Raw:      []FeatureValue{num("income", 52000)},
				Embeddings: []EmbeddingValue{
					{Name: "query", Values: []float32{0.013, -0.2, 0.07}},
					{Name: "doc", Values: []float32{1, 2}},
				},
			},
		},
		{
			name: "kafka time when no ts",
			msg:  `{"model":"m","model_version":"v1","features":{"a":1}}`,
			fb:   Fallback{Time: kafkaTime.In(time.FixedZone("X", 3600))},
			want: Event{Time: kafkaTime, TimeSource: TimeKafka, KafkaTime: kafkaTime, Model: "m", Version: "v1", Features: []FeatureValue{num("a", 1)}},
		},
		{
			name: "payload time kept beside the kafka time",
			msg:  `{"ts":1800000000000,"model":"m","model_version":"v1"}`,
			fb:   Fallback{Time: kafkaTime},
			want: Event{Time: time.UnixMilli(1800000000000), TimeSource: TimePayload, KafkaTime: kafkaTime, Model: "m", Version: "v1"},
		},
		{
			name: "null ts falls back too",
			msg:  `{"ts":null,"model":"m","model_version":"v1"}`,
			fb:   Fallback{Time: kafkaTime},
			want: Event{Time: kafkaTime, TimeSource: TimeKafka, KafkaTime: kafkaTime, Model: "m", Version: "v1"},
		},
		{
			name: "no time at all",
			msg:  `{"model":"m","model_version":"v1"}`,
			want: Event{Model: "m", Version: "v1"},
		},
		{
			name: "ts epoch milliseconds",
			msg:  `{"ts":1795600800123,"model":"m","model_version":"v1"}`,
			fb:   Fallback{Time: kafkaTime},
			want: Event{Time: time.UnixMilli(1795600800123).UTC(), TimeSource: TimePayload, Model: "m", Version: "v1"},
		},
		{
			name: "ts fractional epoch milliseconds",
			msg:  `{"ts":1795600800123.5,"model":"m","model_version":"v1"}`,
			want: Event{Time: time.UnixMilli(1795600800123).Add(500 * time.Microsecond).UTC(), TimeSource: TimePayload, Model: "m", Version: "v1"},
		},
		{
			name: "ts with offset is made UTC",
			msg:  `{"ts":"2026-11-25T12:00:00+02:00","model":"m","model_version":"v1"}`,
			want: Event{Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), TimeSource: TimePayload, Model: "m", Version: "v1"},
		},
		{
			name: "unusable ts falls back to the kafka time",
			msg:  `{"ts":"25/11/2026","model":"m","model_version":"v1"}`,
			fb:   Fallback{Time: kafkaTime},
			want: Event{Time: kafkaTime, TimeSource: TimeKafka, KafkaTime: kafkaTime, Model: "m", Version: "v1"},
		},
		{
			name: "model and version from headers",
			msg:  `{"features":{"a":1}}`,
			fb:   Fallback{Headers: headers},
			want: Event{Model: "hdr-model", Version: "hv9", Features: []FeatureValue{num("a", 1)}},
		},
		{
			name: "payload wins over headers",
			msg:  `{"model":"m","features":{"a":1}}`,
			fb:   Fallback{Headers: headers},
			want: Event{Model: "m", Version: "hv9", Features: []FeatureValue{num("a", 1)}},
		},
		{
			name: "custom header names",
			opts: DecoderOptions{ModelHeader: "x-model", VersionHeader: "x-ver"},
			msg:  `{}`,
			fb:   Fallback{Headers: []kafka.Header{{Key: "model", Value: []byte("no")}, {Key: "x-model", Value: []byte("yes")}, {Key: "x-ver", Value: []byte("7")}}},
			want: Event{Model: "yes", Version: "7"},
		},
		{
			name: "route header marks a candidate",
			opts: DecoderOptions{RouteHeader: "route", CandidateRoutes: []string{"shadow", "candidate"}},
			msg:  `{"model":"m","model_version":"v2"}`,
			fb:   Fallback{Headers: []kafka.Header{{Key: "route", Value: []byte("shadow")}}},
			want: Event{Model: "m", Version: "v2", Candidate: true},
		},
		{
			name: "route header of another value",
			opts: DecoderOptions{RouteHeader: "route", CandidateRoutes: []string{"shadow"}},
			msg:  `{"model":"m","model_version":"v2"}`,
			fb:   Fallback{Headers: []kafka.Header{{Key: "route", Value: []byte("live")}}},
			want: Event{Model: "m", Version: "v2"},
		},
		{
			name: "route header not read without RouteHeader",
			opts: DecoderOptions{CandidateRoutes: []string{"shadow"}},
			msg:  `{"model":"m","model_version":"v2"}`,
			fb:   Fallback{Headers: []kafka.Header{{Key: "route", Value: []byte("shadow")}}},
			want: Event{Model: "m", Version: "v2"},
		},
		{name: "invalid header name", msg: `{"model":"m"}`, fb: Fallback{Headers: []kafka.Header{{Key: "model_version", Value: []byte{0xff}}}}, reason: ReasonNameInvalid, errPart: "model_version"},
		{name: "missing model", msg: `{"model_version":"v1"}`, reason: ReasonMissingModel},
		{name: "null model", msg: `{"model":null,"model_version":"v1"}`, reason: ReasonMissingModel},
		{name: "missing version", msg: `{"model":"m"}`, reason: ReasonMissingVersion},
		{name: "model not a string", msg: `{"model":3,"model_version":"v1"}`, reason: ReasonBadField},
		{name: "empty model", msg: `{"model":"","model_version":"v1"}`, reason: ReasonNameInvalid},
		{
			name: "numeric version",
			msg:  `{"model":"m","model_version":4}`,
			want: Event{Model: "m", Version: "4"},
		},
		{name: "version an object", msg: `{"model":"m","model_version":{}}`, reason: ReasonBadField},
		{
			name: "null, type errors and special numbers",
			msg:  `{"model":"m","model_version":"v1","features":{"a":null,"b":"1.5","c":true,"d":{"x":1},"e":[1],"f":NaN,"g":-1e999,"h":1e3}}`,
			want: Event{Model: "m", Version: "v1", Features: []FeatureValue{
				{Name: "a", Missing: true},
				{Name: "b", TypeError: true},
				{Name: "c", TypeError: true},
				{Name: "d", TypeError: true},
				{Name: "e", TypeError: true},
				num("f", math.NaN()),
				num("g", math.Inf(-1)),
				num("h", 1000),
			}},
		},
		{name: "bad number", msg: `{"model":"m","model_version":"v1","features":{"a":1.2.3}}`, reason: ReasonMalformedJSON},
		{name: "features null", msg: `{"model":"m","model_version":"v1","features":null}`, want: Event{Model: "m", Version: "v1"}},
		{name: "features an array", msg: `{"model":"m","model_version":"v1","features":[1,2]}`, reason: ReasonBadField, errPart: "features"},
		{name: "raw a string", msg: `{"model":"m","model_version":"v1","raw":"x"}`, reason: ReasonBadField},
		{name: "embeddings a number", msg: `{"model":"m","model_version":"v1","embeddings":1}`, reason: ReasonBadField},
		{name: "duplicate feature", msg: `{"model":"m","model_version":"v1","features":{"a":1,"b":2,"a":3}}`, reason: ReasonDuplicateName, errPart: `"a"`},
		{name: "duplicate embedding", msg: `{"model":"m","model_version":"v1","embeddings":{"q":[1],"q":[2]}}`, reason: ReasonDuplicateName},
		{name: "duplicate field", msg: `{"model":"m","model_version":"v1","features":{},"features":{}}`, reason: ReasonDuplicateName},
		{
			name: "same names in features and raw",
			msg:  `{"model":"m","model_version":"v1","features":{"a":1,"b":2},"raw":{"b":20,"a":10}}`,
			want: Event{Model: "m", Version: "v1", Features: []FeatureValue{num("a", 1), num("b", 2)}, Raw: []FeatureValue{num("b", 20), num("a", 10)}},
		},
		{name: "escaped key", msg: `{"model":"m","model_version":"v1","features":{"caf\u00e9":1}}`, want: Event{Model: "m", Version: "v1", Features: []FeatureValue{num("café", 1)}}},
		{name: "empty feature name", msg: `{"model":"m","model_version":"v1","features":{"":1}}`, reason: ReasonNameInvalid},
		{name: "invalid UTF-8 name", msg: "{\"model\":\"m\",\"model_version\":\"v1\",\"features\":{\"a\xff\":1}}", reason: ReasonNameInvalid, errPart: "UTF-8"},
		{name: "10 kB name", msg: `{"model":"m","model_version":"v1","features":{"` + strings.Repeat("n", 10000) + `":1}}`, reason: ReasonNameInvalid, errPart: "10000-byte"},
		{name: "long model", msg: `{"model":"` + strings.Repeat("m", 300) + `","model_version":"v1"}`, reason: ReasonNameInvalid},
		{name: "name at the limit", opts: DecoderOptions{MaxNameBytes: 3}, msg: `{"model":"m","model_version":"v1","features":{"abc":1}}`, want: Event{Model: "m", Version: "v1", Features: []FeatureValue{num("abc", 1)}}},
		{name: "name over the limit", opts: DecoderOptions{MaxNameBytes: 3}, msg: `{"model":"m","model_version":"v1","features":{"abcd":1}}`, reason: ReasonNameInvalid},
		{
			name: "nested paths",
			opts: DecoderOptions{TimePath: "meta.time", ModelPath: "meta.model.name", VersionPath: "meta.model.version", FeaturesPath: "data.f", RawPath: PathDisabled, EmbeddingsPath: "data.e"},
			msg:  `{"meta":{"time":"2026-11-25T10:00:00Z","model":{"name":"m","version":"v2"},"other":[1,2]},"raw":{"x":{}},"data":{"f":{"a":1},"e":{"q":[1,2]}},"features":"ignored"}`,
			want: Event{
				Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), TimeSource: TimePayload,
				Model: "m", Version: "v2", Features: []FeatureValue{num("a", 1)},
				Embeddings: []EmbeddingValue{{Name: "q", Values: []float32{1, 2}}},
			},
		},
		{name: "nested parent not an object", opts: DecoderOptions{ModelPath: "meta.model"}, msg: `{"meta":"x","model_version":"v1"}`, reason: ReasonBadField},
		{name: "nested parent null", opts: DecoderOptions{ModelPath: "meta.model"}, msg: `{"meta":null,"model_version":"v1"}`, reason: ReasonMissingModel},
		{name: "unknown fields ignored", msg: `{"model":"m","model_version":"v1","extra":{"a":[{"b":1}]},"n":1}`, want: Event{Model: "m", Version: "v1"}},
		{
			name: "b64f32 round trip of known floats",
			msg:  `{"model":"m","model_version":"v1","embeddings":{"e":"` + b64f32(0, 1, -1, 0.5, math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(1))) + `"}}`,
			want: Event{Model: "m", Version: "v1", Embeddings: []EmbeddingValue{{Name: "e", Values: []float32{0, 1, -1, 0.5, math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(1))}}}},
		},
		{
			name: "b64f32 with padding",
			msg:  `{"model":"m","model_version":"v1","embeddings":{"e":"` + b64f32(1) + `"}}`,
			want: Event{Model: "m", Version: "v1", Embeddings: []EmbeddingValue{{Name: "e", Values: []float32{1}}}},
		},
		{name: "null embedding", msg: `{"model":"m","model_version":"v1","embeddings":{"e":null}}`, want: Event{Model: "m", Version: "v1", Embeddings: []EmbeddingValue{{Name: "e", Values: []float32{}, Missing: true}}}},
		{name: "invalid base64", msg: `{"model":"m","model_version":"v1","embeddings":{"e":"b64f32:AAAA!AAAAAA="}}`, reason: ReasonBadEmbedding, errPart: "invalid base64"},
		{name: "base64 with newline", msg: `{"model":"m","model_version":"v1","embeddings":{"e":"b64f32:AAAA\nAAA"}}`, reason: ReasonBadEmbedding},
		{name: "base64 length", msg: `{"model":"m","model_version":"v1","embeddings":{"e":"b64f32:AAAAA"}}`, reason: ReasonBadEmbedding, errPart: "multiple of 4"},
		{name: "odd byte length", msg: `{"model":"m","model_version":"v1","embeddings":{"e":"b64f32:AAAAAAA="}}`, reason: ReasonBadEmbedding, errPart: "5 bytes"},
		{name: "no prefix", msg: `{"model":"m","model_version":"v1","embeddings":{"e":"AACAPw=="}}`, reason: ReasonBadEmbedding, errPart: "prefix"},
		{name: "empty b64f32", msg: `{"model":"m","model_version":"v1","embeddings":{"e":"b64f32:"}}`, reason: ReasonBadEmbedding},
		{name: "empty array", msg: `{"model":"m","model_version":"v1","embeddings":{"e":[]}}`, reason: ReasonBadEmbedding},
		{name: "array with a string", msg: `{"model":"m","model_version":"v1","embeddings":{"e":[1,"2"]}}`, reason: ReasonBadEmbedding, errPart: `"e"[1]`},
		{name: "array with null", msg: `{"model":"m","model_version":"v1","embeddings":{"e":[null]}}`, reason: ReasonBadEmbedding},
		{name: "embedding an object", msg: `{"model":"m","model_version":"v1","embeddings":{"e":{}}}`, reason: ReasonBadEmbedding},
		{name: "dim over the limit, array", opts: DecoderOptions{MaxDim: 2}, msg: `{"model":"m","model_version":"v1","embeddings":{"e":[1,2,3]}}`, reason: ReasonDimTooLarge},
		{name: "dim over the limit, b64f32", opts: DecoderOptions{MaxDim: 2}, msg: `{"model":"m","model_version":"v1","embeddings":{"e":"` + b64f32(1, 2, 3) + `"}}`, reason: ReasonDimTooLarge},
		{name: "dim at the limit", opts: DecoderOptions{MaxDim: 3}, msg: `{"model":"m","model_version":"v1","embeddings":{"e":"` + b64f32(1, 2, 3) + `"}}`, want: Event{Model: "m", Version: "v1", Embeddings: []EmbeddingValue{{Name: "e", Values: []float32{1, 2, 3}}}}},
		{name: "too many features", opts: DecoderOptions{MaxFeatures: 2}, msg: `{"model":"m","model_version":"v1","features":{"a":1,"b":2,"c":3}}`, reason: ReasonTooManyFeatures},
		{name: "too many raw", opts: DecoderOptions{MaxFeatures: 2}, msg: `{"model":"m","model_version":"v1","raw":{"a":1,"b":2,"c":3}}`, reason: ReasonTooManyFeatures},
		{name: "too many embeddings", opts: DecoderOptions{MaxEmbeddings: 1}, msg: `{"model":"m","model_version":"v1","embeddings":{"a":[1],"b":[2]}}`, reason: ReasonTooManyEmbeddings},
		{name: "too large", opts: DecoderOptions{MaxMessageBytes: 64}, msg: `{"model":"m","model_version":"v1","features":{"a":1}` + strings.Repeat(" ", 30) + `}`, reason: ReasonTooLarge},
		{name: "too deep, unknown field", opts: DecoderOptions{MaxDepth: 4}, msg: `{"model":"m","model_version":"v1","x":[[[[1]]]]}`, reason: ReasonTooDeep},
		{name: "depth at the limit", opts: DecoderOptions{MaxDepth: 4}, msg: `{"model":"m","model_version":"v1","x":[[[1]]]}`, want: Event{Model: "m", Version: "v1"}},
		{name: "too deep, feature value", opts: DecoderOptions{MaxDepth: 4}, msg: `{"model":"m","model_version":"v1","features":{"a":[[[1]]]}}`, reason: ReasonTooDeep},
		{name: "too deep for the parser", msg: strings.Repeat("[", 400) + strings.Repeat("]", 400), reason: ReasonTooDeep},
		{name: "not JSON", msg: `model=m`, reason: ReasonMalformedJSON},
		{name: "empty message", msg: ``, reason: ReasonMalformedJSON},
		{name: "truncated", msg: `{"model":"m","features":{"a":1`, reason: ReasonMalformedJSON},
		{name: "trailing data", msg: `{"model":"m","model_version":"v1"} {}`, reason: ReasonMalformedJSON},
		{name: "not an object", msg: `[{"model":"m"}]`, reason: ReasonMalformedJSON, errPart: "array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(tt.opts)
			require.NoError(t, err)
			var ev Event
			err = d.Decode([]byte(tt.msg), tt.fb, &ev)
			if tt.reason != "" {
				require.Error(t, err)
				require.Equal(t, tt.reason, ReasonOf(err), "error: %v", err)
				var de *DecodeError
				require.True(t, errors.As(err, &de))
				require.Contains(t, err.Error(), string(tt.reason))
				require.Contains(t, err.Error(), tt.errPart)
				require.Less(t, len(err.Error()), 400, "errors stay short whatever the input")
				return
			}
			require.NoError(t, err)
			requireEvent(t, tt.want, ev)
		})
	}
}

// requireEvent compares events, treating NaN as equal to NaN and nil slices
// as equal to empty ones.
func requireEvent(t *testing.T, want, got Event) {
	t.Helper()
	require.True(t, want.Time.Equal(got.Time), "time: want %v, got %v", want.Time, got.Time)
	require.Equal(t, want.TimeSource, got.TimeSource)
	if !want.KafkaTime.IsZero() { // the cases that check it say so
		require.True(t, want.KafkaTime.Equal(got.KafkaTime), "kafka time: want %v, got %v", want.KafkaTime, got.KafkaTime)
	}
	require.Equal(t, want.Model, got.Model)
	require.Equal(t, want.Version, got.Version)
	require.Equal(t, want.Candidate, got.Candidate, "candidate")
	feats := func(fs []FeatureValue) []string {
		var out []string
		for _, f := range fs {
			out = append(out, fmt.Sprintf("%s=%v/%v/%v", f.Name, f.Value, f.Missing, f.TypeError))
		}
		return out
	}
	require.Equal(t, feats(want.Features), feats(got.Features))
	require.Equal(t, feats(want.Raw), feats(got.Raw))
	require.Len(t, got.Embeddings, len(want.Embeddings))
	for i, e := range want.Embeddings {
		g := got.Embeddings[i]
		require.Equal(t, e.Name, g.Name)
		require.Equal(t, e.Missing, g.Missing)
		require.Len(t, g.Values, len(e.Values))
		for j := range e.Values {
			require.Equal(t, math.Float32bits(e.Values[j]), math.Float32bits(g.Values[j]), "%s[%d]", e.Name, j)
		}
	}
}

func TestDecodeReusesEvent(t *testing.T) {
	d, err := NewDecoder(DecoderOptions{})
	require.NoError(t, err)
	var ev Event
	big := `{"model":"m","model_version":"v1","features":{"a":1,"b":2,"c":3},"raw":{"a":1},"embeddings":{"q":[1,2,3],"r":"` + b64f32(4, 5) + `"}}`
	small := `{"model":"n","model_version":"v2","features":{"c":9},"embeddings":{"r":[7]}}`
	require.NoError(t, d.Decode([]byte(big), Fallback{}, &ev))
	require.NoError(t, d.Decode([]byte(small), Fallback{}, &ev))
	requireEvent(t, Event{Model: "n", Version: "v2", Features: []FeatureValue{num("c", 9)}, Embeddings: []EmbeddingValue{{Name: "r", Values: []float32{7}}}}, ev)

	// A failed decode leaves nothing that looks decoded from before.
	require.Error(t, d.Decode([]byte(`{`), Fallback{}, &ev))
	require.Empty(t, ev.Model)
	require.Empty(t, ev.Features)

	// A big message, after which the parser lets its state go.
	var bigMsg strings.Builder
	bigMsg.WriteString(`{"model":"m","model_version":"v1","pad":[`)
	for i := range 50000 {
		if i > 0 {
			bigMsg.WriteByte(',')
		}
		bigMsg.WriteString("1")
	}
	bigMsg.WriteString(`],"features":{"a":5}}`)
	require.NoError(t, d.Decode([]byte(bigMsg.String()), Fallback{}, &ev))
	requireEvent(t, Event{Model: "m", Version: "v1", Features: []FeatureValue{num("a", 5)}}, ev)
	require.NoError(t, d.Decode([]byte(small), Fallback{}, &ev))
	require.Equal(t, "n", ev.Model)

	// Names are stable strings: the next message does not change them.
	require.NoError(t, d.Decode([]byte(big), Fallback{}, &ev))
	name := ev.Features[0].Name
	require.NoError(t, d.Decode([]byte(`{"model":"m","model_version":"v1","features":{"zz":1}}`), Fallback{}, &ev))
	require.Equal(t, "a", name)
}

func TestDecodeNamesPastTheInternLimit(t *testing.T) {
	d, err := NewDecoder(DecoderOptions{MaxNames: 4})
	require.NoError(t, err)
	var ev Event
	for i := range 50 {
		msg := fmt.Sprintf(`{"model":"m","model_version":"v1","features":{"f%d":1,"g%d":2}}`, i, i)
		require.NoError(t, d.Decode([]byte(msg), Fallback{}, &ev))
		require.Equal(t, fmt.Sprintf("f%d", i), ev.Features[0].Name)
		require.Equal(t, fmt.Sprintf("g%d", i), ev.Features[1].Name)
	}
	require.Len(t, d.names.names, 4)
	err = d.Decode([]byte(`{"model":"m","model_version":"v1","features":{"x1":1,"x1":2}}`), Fallback{}, &ev)
	require.Equal(t, ReasonDuplicateName, ReasonOf(err))
}

func TestDecodeNoAllocs(t *testing.T) {
	d, err := NewDecoder(DecoderOptions{})
	require.NoError(t, err)
	root, err := NewDecoder(DecoderOptions{FeaturesPath: PathRoot})
	require.NoError(t, err)
	shapes := append(benchShapes(),
		benchShape{"iso time with a space", []byte(`{"ts":"2026-12-01 20:50:00.5+01:00","model":"m","model_version":"v1","features":{"a":1}}`)},
		benchShape{"epoch seconds string", []byte(`{"ts":"1796158200","model":"m","model_version":"v1","features":{"a":1}}`)},
		benchShape{"list", []byte(`{"ts":1796158200,"model":"m","model_version":"v1","features":[{"name":"a","value":1},{"name":"b","value":2}],"embeddings":[{"name":"q","value":[1,2]}]}`)},
	)
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			var ev Event
			fb := Fallback{Time: kafkaTime}
			require.NoError(t, d.Decode(shape.msg, fb, &ev))
			allocs := testing.AllocsPerRun(100, func() {
				if err := d.Decode(shape.msg, fb, &ev); err != nil {
					t.Fatal(err)
				}
			})
			require.Zero(t, allocs)
		})
	}
	t.Run("features at the root", func(t *testing.T) {
		msg := []byte(`{"ts":"2026-12-01T20:50:00Z","model":"m","model_version":"v1","a":1,"b":2,"c":null,"raw":{"a":1}}`)
		var ev Event
		require.NoError(t, root.Decode(msg, Fallback{}, &ev))
		require.Len(t, ev.Features, 3)
		require.Zero(t, testing.AllocsPerRun(100, func() {
			if err := root.Decode(msg, Fallback{}, &ev); err != nil {
				t.Fatal(err)
			}
		}))
	})
}

func TestDecoderOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    DecoderOptions
		errPart string // empty: valid
	}{
		{name: "defaults", opts: DecoderOptions{}},
		{name: "negative features", opts: DecoderOptions{MaxFeatures: -1}, errPart: "MaxFeatures: -1"},
		{name: "huge message", opts: DecoderOptions{MaxMessageBytes: 1 << 30}, errPart: "MaxMessageBytes"},
		{name: "zero dim is default", opts: DecoderOptions{MaxDim: 0}},
		{name: "depth over the parser's", opts: DecoderOptions{MaxDepth: 301}, errPart: "MaxDepth"},
		{name: "depth below the paths' need", opts: DecoderOptions{MaxDepth: 2}, errPart: "MaxDepth: 2 is below the 4"},
		{name: "embeddings need three levels", opts: DecoderOptions{MaxDepth: 3, RetrievalPath: PathDisabled}},
		{name: "retrieval docs limit", opts: DecoderOptions{MaxRetrievedDocs: 100_001}, errPart: "MaxRetrievedDocs"},
		{name: "nested path needs depth", opts: DecoderOptions{MaxDepth: 3, FeaturesPath: "a.b.c"}, errPart: "below the 4"},
		{name: "empty key", opts: DecoderOptions{ModelPath: "meta..model"}, errPart: "ModelPath"},
		{name: "same path twice", opts: DecoderOptions{RawPath: "features"}, errPart: "RawPath"},
		{name: "path under another", opts: DecoderOptions{ModelPath: "features.model"}, errPart: `FeaturesPath: "features" overlaps ModelPath "features.model"`},
		{name: "path above another", opts: DecoderOptions{ModelPath: "meta.model", VersionPath: "meta"}, errPart: "VersionPath"},
		{name: "siblings", opts: DecoderOptions{ModelPath: "meta.model", VersionPath: "meta.version"}},
		{name: "disabled", opts: DecoderOptions{ModelPath: PathDisabled, VersionPath: PathDisabled, RawPath: PathDisabled}},
		{name: "escaped dot", opts: DecoderOptions{ModelPath: `meta\.v2.model`}},
		{name: "bad escape", opts: DecoderOptions{ModelPath: `meta\v2`}, errPart: "ModelPath"},
		{name: "escaped paths overlap", opts: DecoderOptions{ModelPath: `a\.b`, VersionPath: `a\.b.c`}, errPart: "overlaps"},
		{name: "escaped and nested differ", opts: DecoderOptions{ModelPath: `a\.b`, VersionPath: `a.b`}},
		{name: "features at the root", opts: DecoderOptions{FeaturesPath: PathRoot}},
		{name: "raw at the root", opts: DecoderOptions{RawPath: PathRoot}, errPart: "RawPath"},
		{name: "time unit", opts: DecoderOptions{TimeUnit: "days"}, errPart: "TimeUnit"},
		{name: "list keys the same", opts: DecoderOptions{ListNameKey: "k", ListValueKey: "k"}, errPart: "ListNameKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDecoder(tt.opts)
			if tt.errPart == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.errPart)
		})
	}
	require.Equal(t, DefaultMaxFeatures, DefaultDecoderOptions().MaxFeatures)
}

func TestReasons(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		require.False(t, seen[r], r)
		seen[r] = true
		require.Regexp(t, `^[a-z_]+$`, string(r))
	}
	require.Equal(t, Reason(""), ReasonOf(errors.New("other")))
	require.Equal(t, ReasonTooLarge, ReasonOf(fmt.Errorf("wrapped: %w", &DecodeError{Reason: ReasonTooLarge, Err: errors.New("x")})))
}

func TestDecodeMessage(t *testing.T) {
	d, err := NewDecoder(DecoderOptions{})
	require.NoError(t, err)
	var ev Event
	m := kafka.Message{Value: []byte(`{"features":{"a":1}}`), Time: kafkaTime, Headers: []kafka.Header{{Key: "model", Value: []byte("m")}, {Key: "model_version", Value: []byte("v")}}}
	require.NoError(t, d.DecodeMessage(&m, &ev))
	requireEvent(t, Event{Time: kafkaTime, TimeSource: TimeKafka, Model: "m", Version: "v", Features: []FeatureValue{num("a", 1)}}, ev)
}

// TestDecodeTime: epoch times in any unit, told apart by magnitude or
// forced, ISO 8601 variants, and the fallback to the Kafka timestamp,
// with its reason, for a time that cannot be used.
func TestDecodeTime(t *testing.T) {
	at := time.Date(2026, 12, 1, 20, 50, 0, 0, time.UTC)
	tests := []struct {
		name     string
		unit     string
		ts       string // the JSON value of "ts"; "" for none
		want     time.Time
		fallback TimeFallback // when set, the Kafka time is used
	}{
		{name: "epoch seconds", ts: "1796158200", want: at},
		{name: "epoch seconds with a fraction", ts: "1796158200.25", want: at.Add(250 * time.Millisecond)},
		{name: "epoch milliseconds", ts: "1796158200123", want: at.Add(123 * time.Millisecond)},
		{name: "epoch microseconds", ts: "1796158200123456", want: at.Add(123456 * time.Microsecond)},
		{name: "epoch nanoseconds", ts: "1796158200123456789", want: at.Add(123456789)},
		{name: "epoch seconds before 1970", ts: "-86400", want: time.Unix(-86400, 0)},
		{name: "epoch seconds as a string", ts: `"1796158200"`, want: at},
		{name: "epoch milliseconds as a string", ts: `"1796158200123"`, want: at.Add(123 * time.Millisecond)},
		{name: "epoch in exponent notation", ts: "1.7961582e9", want: at},
		{name: "forced milliseconds", unit: TimeUnitMS, ts: "1796158200", want: time.UnixMilli(1796158200)},
		{name: "forced seconds", unit: TimeUnitS, ts: "1796158200123", fallback: TimeFallbackOutOfRange},
		{name: "forced microseconds", unit: TimeUnitUS, ts: "1796158200123456", want: at.Add(123456 * time.Microsecond)},
		{name: "forced nanoseconds", unit: TimeUnitNS, ts: "1796158200", want: time.Unix(1, 796158200)},
		{name: "RFC 3339", ts: `"2026-12-01T20:50:00Z"`, want: at},
		{name: "RFC 3339 nanoseconds", ts: `"2026-12-01T20:50:00.123456789Z"`, want: at.Add(123456789)},
		{name: "space separator", ts: `"2026-12-01 20:50:00"`, want: at},
		{name: "no zone is UTC", ts: `"2026-12-01T20:50:00"`, want: at},
		{name: "no seconds", ts: `"2026-12-01T20:50Z"`, want: at},
		{name: "date only", ts: `"2026-12-01"`, want: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{name: "offset", ts: `"2026-12-01T22:50:00+02:00"`, want: at},
		{name: "offset without colon", ts: `"2026-12-01T15:20:00-0530"`, want: at},
		{name: "offset hours only", ts: `"2026-12-01T21:50:00+01"`, want: at},
		{name: "lower case", ts: `"2026-12-01t20:50:00z"`, want: at},
		{name: "comma fraction", ts: `"2026-12-01 20:50:00,5"`, want: at.Add(500 * time.Millisecond)},
		{name: "python str with zone", ts: `"2026-12-01 20:50:00.000001+00:00"`, want: at.Add(time.Microsecond)},
		{name: "Go time String", ts: `"2026-12-01 20:50:00 +0000"`, want: at},
		{name: "UTC suffix", ts: `"2026-12-01 20:50:00 UTC"`, want: at},
		{name: "absent", fallback: TimeFallbackAbsent},
		{name: "null", ts: "null", fallback: TimeFallbackAbsent},
		{name: "day first", ts: `"01/12/2026 20:50"`, fallback: TimeFallbackBadFormat},
		{name: "empty string", ts: `""`, fallback: TimeFallbackBadFormat},
		{name: "february 30", ts: `"2026-02-30T00:00:00Z"`, fallback: TimeFallbackBadFormat},
		{name: "hour 25", ts: `"2026-12-01T25:00:00Z"`, fallback: TimeFallbackBadFormat},
		{name: "trailing junk", ts: `"2026-12-01T20:50:00Zjunk"`, fallback: TimeFallbackBadFormat},
		{name: "bool", ts: "true", fallback: TimeFallbackBadType},
		{name: "object", ts: `{"s":1}`, fallback: TimeFallbackBadType},
		{name: "huge", ts: "1e300", fallback: TimeFallbackOutOfRange},
		{name: "NaN", ts: "NaN", fallback: TimeFallbackOutOfRange},
		{name: "year 9999", ts: `"9999-01-01T00:00:00Z"`, fallback: TimeFallbackOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(DecoderOptions{TimeUnit: tt.unit})
			require.NoError(t, err)
			msg := `{"model":"m","model_version":"v1"}`
			if tt.ts != "" {
				msg = `{"ts":` + tt.ts + `,"model":"m","model_version":"v1"}`
			}
			var ev Event
			require.NoError(t, d.Decode([]byte(msg), Fallback{Time: kafkaTime}, &ev), "an unusable time never loses the event")
			require.Equal(t, tt.fallback, ev.TimeFallback)
			if tt.fallback != TimeFallbackNone {
				require.Equal(t, TimeKafka, ev.TimeSource)
				require.True(t, ev.Time.Equal(kafkaTime))
				return
			}
			require.Equal(t, TimePayload, ev.TimeSource)
			require.True(t, tt.want.Equal(ev.Time), "want %v, got %v", tt.want, ev.Time)
			require.Equal(t, time.UTC, ev.Time.Location())
		})
	}

	// A disabled time path is no fallback to count.
	d, err := NewDecoder(DecoderOptions{TimePath: PathDisabled})
	require.NoError(t, err)
	var ev Event
	require.NoError(t, d.Decode([]byte(`{"ts":"x","model":"m","model_version":"v1"}`), Fallback{Time: kafkaTime}, &ev))
	require.Equal(t, TimeFallbackNone, ev.TimeFallback)
	require.Equal(t, TimeKafka, ev.TimeSource)
}

// TestDecodeTimeMatchesTimeParse: where both read a string, the ISO 8601
// reader agrees with time.Parse's RFC 3339.
func TestDecodeTimeMatchesTimeParse(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		sec := r.Int64N(4e9) - 1e9
		ns := r.Int64N(1e9)
		off := (r.IntN(48) - 24) * 1800
		ts := time.Unix(sec, ns).In(time.FixedZone("", off)).Format(time.RFC3339Nano)
		want, err := time.Parse(time.RFC3339Nano, ts)
		require.NoError(t, err)
		got, fb := parseISO8601([]byte(ts))
		require.Equal(t, TimeFallbackNone, fb, ts)
		require.True(t, want.Equal(got), "%s: want %v, got %v", ts, want, got)
	}
}

// TestDecodeShapes: features at the root, {name, value} lists, keys with
// dots, all configured through the options.
func TestDecodeShapes(t *testing.T) {
	tests := []struct {
		name    string
		opts    DecoderOptions
		msg     string
		want    Event
		reason  Reason
		errPart string
	}{
		{
			name: "features at the root",
			opts: DecoderOptions{FeaturesPath: PathRoot},
			msg:  `{"ts":"2026-12-01T20:50:00Z","model":"ranker","model_version":"v4","age":0.41,"income":-1.2,"country":"DE","score":null,"raw":{"income":52000},"embeddings":{"q":[1,0]},"meta":{"id":"x"},"tags":["a"]}`,
			want: Event{
				Time: time.Date(2026, 12, 1, 20, 50, 0, 0, time.UTC), TimeSource: TimePayload, Model: "ranker", Version: "v4",
				Features: []FeatureValue{num("age", 0.41), num("income", -1.2), {Name: "country", TypeError: true}, {Name: "score", Missing: true}},
				Raw:      []FeatureValue{num("income", 52000)}, Embeddings: []EmbeddingValue{{Name: "q", Values: []float32{1, 0}}},
			},
		},
		{
			name: "features at the root leave out the parents of nested paths",
			opts: DecoderOptions{FeaturesPath: PathRoot, ModelPath: "meta.model", VersionPath: "meta.version", TimePath: "meta.ts"},
			msg:  `{"meta":{"model":"m","version":"v1"},"a":1,"b":2}`,
			want: Event{Model: "m", Version: "v1", Features: []FeatureValue{num("a", 1), num("b", 2)}},
		},
		{
			name: "too many features at the root",
			opts: DecoderOptions{FeaturesPath: PathRoot, MaxFeatures: 2},
			msg:  `{"model":"m","model_version":"v1","a":1,"b":2,"c":3}`, reason: ReasonTooManyFeatures,
		},
		{
			name: "a root feature given twice",
			opts: DecoderOptions{FeaturesPath: PathRoot},
			msg:  `{"model":"m","model_version":"v1","a":1,"a":2}`, reason: ReasonDuplicateName,
		},
		{
			name: "name value lists",
			msg:  `{"model":"m","model_version":"v1","features":[{"name":"age","value":0.41},{"name":"income","value":null},{"name":"flag","value":"yes"},{"name":"gone"}],"raw":[{"name":"income","value":52000}],"embeddings":[{"name":"q","value":[0.6,0.8]},{"name":"d","value":"` + b64f32(1, 2) + `"},{"name":"n","value":null}]}`,
			want: Event{
				Model: "m", Version: "v1",
				Features:   []FeatureValue{num("age", 0.41), {Name: "income", Missing: true}, {Name: "flag", TypeError: true}, {Name: "gone", Missing: true}},
				Raw:        []FeatureValue{num("income", 52000)},
				Embeddings: []EmbeddingValue{{Name: "q", Values: []float32{0.6, 0.8}}, {Name: "d", Values: []float32{1, 2}}, {Name: "n", Missing: true}},
			},
		},
		{
			name: "list keys of your own",
			opts: DecoderOptions{ListNameKey: "feature", ListValueKey: "v"},
			msg:  `{"model":"m","model_version":"v1","features":[{"feature":"age","v":3,"unit":"years"}]}`,
			want: Event{Model: "m", Version: "v1", Features: []FeatureValue{num("age", 3)}},
		},
		{name: "list entry not an object", msg: `{"model":"m","model_version":"v1","features":[1]}`, reason: ReasonBadField, errPart: `"features"[0] is a JSON number`},
		{name: "list entry without a name", msg: `{"model":"m","model_version":"v1","features":[{"value":1}]}`, reason: ReasonBadField, errPart: `has no string "name"`},
		{name: "list name twice", msg: `{"model":"m","model_version":"v1","features":[{"name":"a","value":1},{"name":"a","value":2}]}`, reason: ReasonDuplicateName},
		{name: "list too long", opts: DecoderOptions{MaxFeatures: 1}, msg: `{"model":"m","model_version":"v1","features":[{"name":"a"},{"name":"b"}]}`, reason: ReasonTooManyFeatures},
		{name: "embedding list too long", opts: DecoderOptions{MaxEmbeddings: 1}, msg: `{"model":"m","model_version":"v1","embeddings":[{"name":"a"},{"name":"b"}]}`, reason: ReasonTooManyEmbeddings},
		{name: "features neither object nor list", msg: `{"model":"m","model_version":"v1","features":3}`, reason: ReasonBadField, errPart: "not an object or a list"},
		{
			name: "keys with dots",
			opts: DecoderOptions{ModelPath: `meta\.v2.model`, VersionPath: `model\.version`, FeaturesPath: `f\.x`},
			msg:  `{"meta.v2":{"model":"m"},"meta":{"v2":{"model":"wrong"}},"model.version":"v1","f.x":{"user.age":3}}`,
			want: Event{Model: "m", Version: "v1", Features: []FeatureValue{num("user.age", 3)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(tt.opts)
			require.NoError(t, err)
			var ev Event
			err = d.Decode([]byte(tt.msg), Fallback{}, &ev)
			if tt.reason != "" {
				require.Error(t, err)
				require.Equal(t, tt.reason, ReasonOf(err), err)
				if tt.errPart != "" {
					require.ErrorContains(t, err, tt.errPart)
				}
				return
			}
			require.NoError(t, err)
			requireEvent(t, tt.want, ev)
		})
	}
}

// TestDecodeRequestID: a request id is kept as given when it is a short
// printable string; otherwise the event is read without one, marked
// invalid, by the fast path and the general decoder alike.
func TestDecodeRequestID(t *testing.T) {
	d, err := NewDecoder(DecoderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		value   string
		id      string
		invalid bool
	}{
		{`"req-42"`, "req-42", false},
		{`"\u0041b"`, "Ab", false}, // an escape: the general decoder
		{`""`, "", true},
		{`"a b"`, "", true},
		{`"` + strings.Repeat("x", MaxRequestIDBytes) + `"`, strings.Repeat("x", MaxRequestIDBytes), false},
		{`"` + strings.Repeat("x", MaxRequestIDBytes+1) + `"`, "", true},
		{`17`, "", true},
		{`{"a":1}`, "", true},
		{`null`, "", false},
	} {
		msg := []byte(`{"model":"m","model_version":"v1","request_id":` + c.value + `,"features":{"a":1}}`)
		var ev Event
		if err := d.Decode(msg, Fallback{}, &ev); err != nil {
			t.Fatalf("%s: %v", c.value, err)
		}
		if ev.RequestID != c.id || ev.RequestIDInvalid != c.invalid {
			t.Errorf("%s: request id %q invalid %v, want %q %v", c.value, ev.RequestID, ev.RequestIDInvalid, c.id, c.invalid)
		}
		if len(ev.Features) != 1 || ev.Features[0].Value != 1 {
			t.Errorf("%s: features %+v", c.value, ev.Features)
		}
	}
}

// TestDecodeRequestIDHeader: without a request id in the payload, the
// RequestIDHeader header gives it (checked as a payload's); the payload's
// wins, an invalid one too; "-" reads no header.
func TestDecodeRequestIDHeader(t *testing.T) {
	hdr := func(v string) Fallback {
		return Fallback{Headers: []kafka.Header{{Key: "other", Value: []byte("x")}, {Key: DefaultRequestIDHeader, Value: []byte(v)}}}
	}
	for _, c := range []struct {
		name, header, payload string
		fb                    Fallback
		id                    string
		invalid               bool
	}{
		{"header only", "", "", hdr("req-7"), "req-7", false},
		{"payload wins", "", `,"request_id":"req-1"`, hdr("req-7"), "req-1", false},
		{"invalid payload stays invalid", "", `,"request_id":""`, hdr("req-7"), "", true},
		{"invalid header", "", "", hdr("a b"), "", true},
		{"no header", "", "", Fallback{}, "", false},
		{"another header name", "x-request-id", "", Fallback{Headers: []kafka.Header{{Key: "x-request-id", Value: []byte("r9")}}}, "r9", false},
		{"none read", "-", "", hdr("req-7"), "", false},
	} {
		d, err := NewDecoder(DecoderOptions{RequestIDHeader: c.header})
		if err != nil {
			t.Fatal(err)
		}
		var ev Event
		msg := []byte(`{"model":"m","model_version":"v1"` + c.payload + `,"features":{"a":1}}`)
		if err := d.Decode(msg, c.fb, &ev); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ev.RequestID != c.id || ev.RequestIDInvalid != c.invalid {
			t.Errorf("%s: request id %q invalid %v, want %q %v", c.name, ev.RequestID, ev.RequestIDInvalid, c.id, c.invalid)
		}
	}
}
