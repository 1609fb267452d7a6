package stream

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// decodeBoth decodes value with the fast path on and off: both must agree
// on the error's reason and on the event.
func decodeBoth(t *testing.T, opts DecoderOptions, value []byte) (fast bool) {
	t.Helper()
	df, err := NewDecoder(opts)
	require.NoError(t, err)
	dg, _ := NewDecoder(opts)
	dg.noFast = true
	var ef, eg Event
	fb := Fallback{Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	errF := df.Decode(value, fb, &ef)
	errG := dg.Decode(value, fb, &eg)
	require.Equal(t, ReasonOf(errG), ReasonOf(errF), "reason for %q: general %v, fast %v", value, errG, errF)
	require.Equal(t, errG == nil, errF == nil, "%q", value)
	if errG == nil {
		require.True(t, reflect.DeepEqual(eventView(&eg), eventView(&ef)), "events differ for %q:\n general %+v\n fast    %+v", value, eventView(&eg), eventView(&ef))
	}
	var ev Event
	d3, _ := NewDecoder(opts)
	return d3.fastDecode(value, &ev)
}

// eventView is an event's content, slices cut to length, with every
// float as its bits and every NaN as one, so that two decodings of a NaN
// compare equal (reflect.DeepEqual holds NaN unequal to itself).
func eventView(e *Event) any {
	type feature struct {
		Name               string
		Bits               uint64
		Missing, TypeError bool
	}
	type embedding struct {
		Name    string
		Missing bool
		Bits    []uint32
	}
	type outcome struct {
		Name    string
		Bits    uint64
		Missing bool
	}
	bits64 := func(x float64) uint64 {
		if math.IsNaN(x) {
			return math.Float64bits(math.NaN())
		}
		return math.Float64bits(x)
	}
	features := func(fs []FeatureValue) []feature {
		out := make([]feature, len(fs))
		for i, f := range fs {
			out[i] = feature{f.Name, bits64(f.Value), f.Missing, f.TypeError}
		}
		return out
	}
	embs := make([]embedding, len(e.Embeddings))
	for i, m := range e.Embeddings {
		embs[i] = embedding{Name: m.Name, Missing: m.Missing, Bits: make([]uint32, len(m.Values))}
		for j, x := range m.Values {
			if x != x {
				x = float32(math.NaN())
			}
			embs[i].Bits[j] = math.Float32bits(x)
		}
	}
	outs := make([]outcome, len(e.Outcomes))
	for i, o := range e.Outcomes {
		outs[i] = outcome{o.Name, bits64(o.Value), o.Missing}
	}
	return struct {
		Time           time.Time
		TimeSource     TimeSource
		TimeFallback   TimeFallback
		KafkaTime      time.Time
		Model, Version string
		RequestID      string
		RequestIDBad   bool
		Features, Raw  []feature
		Embeddings     []embedding
		Outcomes       []outcome
	}{e.Time, e.TimeSource, e.TimeFallback, e.KafkaTime, e.Model, e.Version, e.RequestID, e.RequestIDInvalid,
		features(e.Features), features(e.Raw), embs, outs}
}

// randomEvent writes an event of the usual shape with random variations:
// key order, white space, numbers in every form, nulls, strings where
// numbers go, embeddings as arrays or b64f32, times as epochs or text.
func randomEvent(r *rand.Rand) []byte {
	ws := func() string { return []string{"", " ", "\n\t", "  "}[r.IntN(4)] }
	num := func() string {
		switch r.IntN(10) {
		case 0:
			return strconv.Itoa(r.IntN(2000) - 1000)
		case 1:
			return strconv.FormatFloat(r.NormFloat64()*1e-30, 'g', -1, 64)
		case 2:
			return strconv.FormatFloat(r.NormFloat64()*1e30, 'e', 12, 64)
		case 3:
			return fmt.Sprintf("%.3E", r.NormFloat64())
		case 4:
			return "-0"
		case 5:
			return "0.000000000000000000000000001"
		case 6:
			return strconv.FormatFloat(float64(float32(r.NormFloat64())), 'g', 7, 32)
		case 7:
			return "123456789012345678901234567890"
		}
		return strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(9)-4)), 'g', -1, 64)
	}
	var parts []string
	switch r.IntN(6) {
	case 0:
		parts = append(parts, `"ts":`+ws()+strconv.FormatInt(1796000000000+r.Int64N(1e9), 10))
	case 1:
		parts = append(parts, `"ts":`+strconv.FormatInt(1796000000+r.Int64N(1e6), 10))
	case 2:
		parts = append(parts, `"ts":"2026-11-25T10:00:00.`+strconv.Itoa(r.IntN(1000))+`Z"`)
	case 3:
		parts = append(parts, `"ts":"2026-12-01 20:50:00"`)
	case 4:
		parts = append(parts, `"ts":1.7961e12`)
	}
	parts = append(parts, `"model":`+ws()+`"ranker"`)
	if r.IntN(4) == 0 {
		parts = append(parts, `"model_version":4`)
	} else {
		parts = append(parts, `"model_version":"v`+strconv.Itoa(r.IntN(3))+`"`)
	}
	var fs []string
	for k := range r.IntN(8) {
		v := num()
		switch r.IntN(12) {
		case 0:
			v = "null"
		case 1:
			v = `"x"`
		case 2:
			v = "true"
		}
		fs = append(fs, fmt.Sprintf(`"f%d":%s%s`, k, ws(), v))
	}
	parts = append(parts, `"features":{`+strings.Join(fs, ","+ws())+`}`)
	if r.IntN(2) == 0 {
		parts = append(parts, `"raw":{"f0":`+num()+`}`)
	}
	var es []string
	for k := range r.IntN(3) {
		dim := 1 + r.IntN(8)
		switch r.IntN(3) {
		case 0:
			xs := make([]string, dim)
			for j := range xs {
				xs[j] = num()
			}
			es = append(es, fmt.Sprintf(`"e%d":[%s]`, k, strings.Join(xs, ","+ws())))
		case 1:
			b := make([]byte, 4*dim)
			for j := range dim {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(float32(r.NormFloat64())))
			}
			es = append(es, fmt.Sprintf(`"e%d":"b64f32:%s"`, k, base64.StdEncoding.EncodeToString(b)))
		default:
			es = append(es, fmt.Sprintf(`"e%d":null`, k))
		}
	}
	parts = append(parts, `"embeddings":{`+strings.Join(es, ",")+`}`)
	if r.IntN(2) == 0 {
		var os []string
		for k := range r.IntN(5) {
			v := []string{"1", "0", "true", "false", "null", num(), num()}[r.IntN(7)]
			if r.IntN(40) == 0 {
				v = []string{`"1"`, "1e999", "[1]", "{}"}[r.IntN(4)]
			}
			os = append(os, fmt.Sprintf(`"o%d":%s%s`, k, ws(), v))
		}
		parts = append(parts, `"outcomes":{`+strings.Join(os, ","+ws())+`}`)
	}
	r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return []byte("{" + ws() + strings.Join(parts, ","+ws()) + ws() + "}" + ws())
}

// TestFastDecodeAgrees: on events of the usual shape the fast path is taken
// and agrees with the general decoder; on the decoder tests' and fuzz
// seeds' messages, whatever path is taken, the result is the same.
func TestFastDecodeAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fast := 0
	const n = 5000
	for range n {
		if decodeBoth(t, DecoderOptions{}, randomEvent(r)) {
			fast++
		}
	}
	require.Greater(t, fast, n*9/10, "the fast path reads the usual shape")
	for _, s := range []string{
		`{"model":"m","model_version":"v1","features":{"a":1,"a":2}}`,
		`{"model":"m","model_version":"v1","features":{"a":1e400}}`,
		`{"model":"m","model_version":"v1","embeddings":{"e":[1e39,2]}}`,
		`{"model":"m","model_version":"v1","embeddings":{"e":[]}}`,
		`{"model":"m","model_version":"v1","embeddings":{"e":"b64f32:AAAA!AAAAAA="}}`,
		`{"model":"m","model_version":"v1","x":1}`,
		`{"model":"m","model_version":"v1"} x`,
		`{"model":"","model_version":"v1"}`,
		`{"model":"m","model_version":"v1","features":{"a":01}}`,
		`{"model":"m","model_version":"v1","features":{"caf\u00e9":1}}`,
		"{\"model\":\"m\",\"model_version\":\"v1\",\"features\":{\"a\xff\":1}}",
		`{"ts":true,"model":"m","model_version":"v1"}`,
		`{"ts":null,"model":"m","model_version":"v1","raw":null,"features":null}`,
		`{"model":"m","model_version":"v1","outcomes":{"p":1,"p":0}}`,
		`{"model":"m","model_version":"v1","outcomes":{"p":1e999}}`,
		`{"model":"m","model_version":"v1","outcomes":{"p":"1"}}`,
		`{"model":"m","model_version":"v1","outcomes":{"p":[1]}}`,
		`{"model":"m","model_version":"v1","outcomes":[1]}`,
		`{"model":"m","model_version":"v1","outcomes":{"":1}}`,
		`{"model":"m","model_version":"v1","outcomes":{"p":true,"q":false,"r":null,"s":0.82}}`,
		`{"model":"m","model_version":"v1","outcomes":null}`,
		`{}`, `{"model":"m"}`, `{"model_version":"v"}`, `[]`, ``, `{`,
	} {
		decodeBoth(t, DecoderOptions{}, []byte(s))
	}
}

// FuzzFastDecodeAgrees: for any message, the decoder with its fast path
// and without it give the same event or the same reason.
func FuzzFastDecodeAgrees(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		f.Add(randomEvent(r))
	}
	for _, id := range []string{`"r-1"`, `""`, `"a b"`, `"\u0041"`, `7`, `null`, `"` + strings.Repeat("x", MaxRequestIDBytes+1) + `"`} {
		f.Add([]byte(`{"model":"m","model_version":"v","request_id":` + id + `,"features":{"a":1}}`))
	}
	// NaN in a b64f32 embedding (bits 0x7fc00000) and as a number: the
	// decoders agree, and the comparison must see that.
	f.Add([]byte(`{"model":"m","model_version":"v","embeddings":{"q":"b64f32:AADAfw=="}}`))
	f.Add([]byte(`{"model":"m","model_version":"v","features":{"a":NaN},"embeddings":{"q":[NaN,1]}}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		decodeBoth(t, DecoderOptions{MaxFeatures: 4, MaxEmbeddings: 2, MaxDim: 6, MaxOutcomes: 3}, value)
	})
}

// BenchmarkDecodeFastPath: a realistic event (7 features, a raw value, a
// 64-dimension embedding as a JSON array or b64f32) through the decoder
// with its fast path and without, in the same run.
func BenchmarkDecodeFastPath(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	msg := func(b64 bool) []byte {
		var sb strings.Builder
		sb.WriteString(`{"ts":1796000000123,"model":"ranker","model_version":"v4","features":{`)
		for k, name := range []string{"score", "age", "income", "clicks", "ratio", "latency_ms", "is_new"} {
			if k > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%q:%s", name, strconv.FormatFloat(r.NormFloat64()*40, 'g', -1, 64))
		}
		fmt.Fprintf(&sb, `},"raw":{"income":%s},"embeddings":{"query":`, strconv.FormatFloat(r.NormFloat64()*18300+52100, 'g', -1, 64))
		q := make([]float32, 64)
		for j := range q {
			q[j] = float32(r.NormFloat64() / 8)
		}
		if b64 {
			raw := make([]byte, 256)
			for j, x := range q {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
			}
			sb.WriteString(`"b64f32:` + base64.StdEncoding.EncodeToString(raw) + `"`)
		} else {
			xs := make([]string, len(q))
			for j, x := range q {
				xs[j] = strconv.FormatFloat(float64(x), 'g', 7, 32)
			}
			sb.WriteString("[" + strings.Join(xs, ",") + "]")
		}
		sb.WriteString("}}")
		return []byte(sb.String())
	}
	for _, enc := range []string{"json", "b64f32"} {
		m := msg(enc == "b64f32")
		for _, path := range []string{"fast", "general"} {
			b.Run(enc+"/"+path, func(b *testing.B) {
				d, _ := NewDecoder(DecoderOptions{})
				d.noFast = path == "general"
				var ev Event
				b.SetBytes(int64(len(m)))
				done := reportCPU(b)
				for b.Loop() {
					if err := d.Decode(m, Fallback{}, &ev); err != nil {
						b.Fatal(err)
					}
				}
				done()
			})
		}
	}
}

// reportCPU reports the process's CPU time per iteration as cpu-ns/op
// when the returned function is called: on a machine shared with other
// work it moves less than the wall time.
func reportCPU(b *testing.B) func() {
	c0 := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((processCPU()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
