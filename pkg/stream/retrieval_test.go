package stream

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/normwatch/normwatch/pkg/sketch"
)

func TestDecodeRetrieval(t *testing.T) {
	tests := []struct {
		name    string
		opts    DecoderOptions
		msg     string
		want    Retrieval // compared when reason is empty
		reason  Reason
		errPart string
	}{
		{
			name: "docs and query",
			msg:  `{"model":"m","model_version":"v1","embeddings":{"q":[0.6,0.8]},"retrieval":{"query":"q","docs":[[1,0],"` + b64f32(0, 1) + `"]}}`,
			want: Retrieval{Present: true, Query: "q", Dim: 2, NDocs: 2, Docs: []float32{1, 0, 0, 1}},
		},
		{
			name: "scores only, with a metric",
			msg:  `{"model":"m","model_version":"v1","retrieval":{"metric":"l2","query":"q","scores":[0.5,0.25]}}`,
			want: Retrieval{Present: true, Query: "q", Metric: "l2", Scores: []float64{0.5, 0.25}},
		},
		{
			name: "retrieval before the embeddings",
			msg:  `{"model":"m","model_version":"v1","retrieval":{"query":"q","docs":[[1,0]]},"embeddings":{"q":[0.6,0.8]}}`,
			want: Retrieval{Present: true, Query: "q", Dim: 2, NDocs: 1, Docs: []float32{1, 0}},
		},
		{
			name: "null is absent",
			msg:  `{"model":"m","model_version":"v1","retrieval":null}`,
		},
		{name: "not an object", msg: `{"model":"m","model_version":"v1","retrieval":[1]}`, reason: ReasonBadRetrieval, errPart: "not an object"},
		{name: "no query", msg: `{"model":"m","model_version":"v1","retrieval":{"scores":[1]}}`, reason: ReasonBadRetrieval, errPart: "no query"},
		{name: "query a number", msg: `{"model":"m","model_version":"v1","retrieval":{"query":1,"scores":[1]}}`, reason: ReasonBadRetrieval},
		{name: "nothing", msg: `{"model":"m","model_version":"v1","retrieval":{"query":"q"}}`, reason: ReasonBadRetrieval, errPart: "neither"},
		{name: "docs without query vector", msg: `{"model":"m","model_version":"v1","retrieval":{"query":"q","docs":[[1,0]]}}`, reason: ReasonBadRetrieval, errPart: "no scores"},
		{name: "unknown metric", msg: `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[1],"metric":"manhattan"}}`, reason: ReasonBadRetrieval, errPart: "metric"},
		{name: "score a string", msg: `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":["1"]}}`, reason: ReasonBadRetrieval},
		{name: "score infinite", msg: `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[0.5,1e999]}}`, reason: ReasonNonFiniteScore, errPart: "scores[1]"},
		{name: "score NaN", msg: `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[NaN]}}`, reason: ReasonNonFiniteScore},
		{name: "doc component infinite", msg: `{"model":"m","model_version":"v1","embeddings":{"q":[1,0]},"retrieval":{"query":"q","docs":[[1,1e999]]}}`, reason: ReasonNonFiniteScore},
		{name: "docs of two dimensions", msg: `{"model":"m","model_version":"v1","embeddings":{"q":[1,0]},"retrieval":{"query":"q","docs":[[1,0],[1,0,0]]}}`, reason: ReasonRetrievalDim, errPart: "docs[1]"},
		{name: "docs not the query's dimension", msg: `{"model":"m","model_version":"v1","embeddings":{"q":[1,0,0]},"retrieval":{"query":"q","docs":[[1,0]]}}`, reason: ReasonRetrievalDim, errPart: "the query 3"},
		{name: "scores and docs disagree", msg: `{"model":"m","model_version":"v1","embeddings":{"q":[1,0]},"retrieval":{"query":"q","docs":[[1,0]],"scores":[1,2]}}`, reason: ReasonBadRetrieval, errPart: "2 scores for 1 docs"},
		{name: "a doc a number", msg: `{"model":"m","model_version":"v1","embeddings":{"q":[1,0]},"retrieval":{"query":"q","docs":[3]}}`, reason: ReasonBadRetrieval},
		{name: "a doc empty", msg: `{"model":"m","model_version":"v1","embeddings":{"q":[1,0]},"retrieval":{"query":"q","docs":[[]]}}`, reason: ReasonBadRetrieval},
		{
			name: "too many docs", opts: DecoderOptions{MaxRetrievedDocs: 2},
			msg:    `{"model":"m","model_version":"v1","embeddings":{"q":[1,0]},"retrieval":{"query":"q","docs":[[1,0],[1,0],[1,0]]}}`,
			reason: ReasonTooManyDocs, errPart: "over the limit of 2",
		},
		{
			name: "too many scores", opts: DecoderOptions{MaxRetrievedDocs: 2},
			msg:    `{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[1,2,3]}}`,
			reason: ReasonTooManyDocs,
		},
		{
			name: "retrieval turned off", opts: DecoderOptions{RetrievalPath: PathDisabled},
			msg: `{"model":"m","model_version":"v1","retrieval":{"query":1}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, fast := range []bool{true, false} {
				d, err := NewDecoder(tt.opts)
				require.NoError(t, err)
				d.noFast = !fast
				var ev Event
				err = d.Decode([]byte(tt.msg), Fallback{}, &ev)
				if tt.reason != "" {
					require.Error(t, err)
					require.Equal(t, tt.reason, ReasonOf(err), err.Error())
					require.True(t, strings.Contains(err.Error(), tt.errPart), err.Error())
					continue
				}
				require.NoError(t, err)
				got := ev.Retrieval
				if len(got.Docs) == 0 {
					got.Docs = nil
				}
				if len(got.Scores) == 0 {
					got.Scores = nil
				}
				require.Equal(t, tt.want, got)
			}
		})
	}
}

// TestDecodeRetrievalReused: a decoder reuses the retrieval's slices and
// forgets the previous event's retrieval.
func TestDecodeRetrievalReused(t *testing.T) {
	d, err := NewDecoder(DecoderOptions{})
	require.NoError(t, err)
	var ev Event
	require.NoError(t, d.Decode([]byte(`{"model":"m","model_version":"v1","embeddings":{"q":[1,0]},"retrieval":{"query":"q","docs":[[1,0],[0,1]]}}`), Fallback{}, &ev))
	require.Equal(t, []float32{1, 0}, ev.QueryVector())
	require.Equal(t, []float32{0, 1}, ev.Retrieval.Doc(1))
	require.NoError(t, d.Decode([]byte(`{"model":"m","model_version":"v1","features":{"a":1}}`), Fallback{}, &ev))
	require.False(t, ev.Retrieval.Present)
	require.Nil(t, ev.QueryVector())
	// More documents than before, arrays and b64f32 mixed: each lands
	// whole in Docs, in its spare capacity or grown.
	for _, n := range []int{1, 4, 2, 6} {
		docs := make([]string, n)
		var want []float32
		for i := range docs {
			v := []float32{float32(i), float32(-i), 0.5}
			want = append(want, v...)
			docs[i] = fmt.Sprintf("[%d,%d,0.5]", i, -i)
			if i%2 == 1 {
				docs[i] = `"` + b64f32(v...) + `"`
			}
		}
		msg := `{"model":"m","model_version":"v1","embeddings":{"q":[1,0,0]},"retrieval":{"query":"q","docs":[` + strings.Join(docs, ",") + `]}}`
		require.NoError(t, d.Decode([]byte(msg), Fallback{}, &ev))
		require.Equal(t, n, ev.Retrieval.NDocs)
		require.Equal(t, want, ev.Retrieval.Docs)
	}
}

// TestFastDecodeRetrieval: the fast path leaves the retrieval object to
// the general decoder, and both read it the same.
func TestFastDecodeRetrieval(t *testing.T) {
	for _, s := range []string{
		`{"model":"m","model_version":"v1","embeddings":{"q":[0.6,0.8]},"retrieval":{"query":"q","docs":[[1,0]]}}`,
		`{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[0.5]}}`,
		`{"model":"m","model_version":"v1","retrieval":null}`,
		`{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[1e999]}}`,
	} {
		decodeBoth(t, DecoderOptions{}, []byte(s))
	}
}

// BenchmarkDecodeRetrieval: an event with a 64-dimension query and five
// retrieved documents as b64f32 (the demo's search event), through the
// general decoder (the fast path leaves retrievals to it).
func BenchmarkDecodeRetrieval(b *testing.B) {
	vec := make([]float32, 64)
	for j := range vec {
		vec[j] = float32(j) / 64
	}
	docs := make([]string, 5)
	for i := range docs {
		docs[i] = `"` + b64f32(vec...) + `"`
	}
	msg := []byte(`{"ts":1796000000123,"model":"search","model_version":"v2","features":{"latency_ms":21.5},` +
		`"embeddings":{"query":"` + b64f32(vec...) + `"},"retrieval":{"query":"query","metric":"l2","docs":[` +
		strings.Join(docs, ",") + `]}}`)
	d, err := NewDecoder(DecoderOptions{})
	require.NoError(b, err)
	var ev Event
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := d.Decode(msg, Fallback{}, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeFrozenRun: a frozen query's run (query_id, doc_ids) decodes
// into the id and the ids' hashes in rank order, alone or beside scores;
// hostile ids are errors with their reason, on both decoder paths.
func TestDecodeFrozenRun(t *testing.T) {
	h := func(ids ...string) []uint64 {
		out := []uint64{}
		for _, id := range ids {
			out = append(out, sketch.DocID([]byte(id)))
		}
		return out
	}
	long := strings.Repeat("x", MaxRetrievalIDBytes+1)
	tests := []struct {
		name    string
		opts    DecoderOptions
		retr    string
		id      string
		docs    []uint64
		reason  Reason
		errPart string
	}{
		{name: "ids alone", retr: `{"query":"q","query_id":"fq-0017","doc_ids":["d12","d7","d3"]}`, id: "fq-0017", docs: h("d12", "d7", "d3")},
		{name: "beside scores", retr: `{"query":"q","scores":[0.9,0.8],"query_id":"fq-1","doc_ids":["a","b"]}`, id: "fq-1", docs: h("a", "b")},
		{name: "nothing retrieved", retr: `{"query":"q","query_id":"fq-1","doc_ids":[]}`, id: "fq-1", docs: h()},
		{name: "longest id", retr: `{"query":"q","query_id":"` + long[1:] + `","doc_ids":["` + long[1:] + `"]}`, id: long[1:], docs: h(long[1:])},
		{name: "query id too long", retr: `{"query":"q","query_id":"` + long + `","doc_ids":["a"]}`, reason: ReasonBadRetrievalID, errPart: "query_id has 257 bytes"},
		{name: "doc id too long", retr: `{"query":"q","query_id":"a","doc_ids":["a","` + long + `"]}`, reason: ReasonBadRetrievalID, errPart: "doc_ids[1] has 257 bytes"},
		{name: "query id a number", retr: `{"query":"q","query_id":17,"doc_ids":["a"]}`, reason: ReasonBadRetrievalID},
		{name: "doc id a number", retr: `{"query":"q","query_id":"a","doc_ids":[12]}`, reason: ReasonBadRetrievalID, errPart: "doc_ids[0]"},
		{name: "doc id empty", retr: `{"query":"q","query_id":"a","doc_ids":["b",""]}`, reason: ReasonBadRetrievalID, errPart: "doc_ids[1] is empty"},
		{name: "query id empty", retr: `{"query":"q","query_id":"","doc_ids":["b"]}`, reason: ReasonBadRetrievalID},
		{name: "doc id not UTF-8", retr: "{\"query\":\"q\",\"query_id\":\"a\",\"doc_ids\":[\"\xff\"]}", reason: ReasonBadRetrievalID, errPart: "UTF-8"},
		{name: "doc_ids an object", retr: `{"query":"q","query_id":"a","doc_ids":{"a":1}}`, reason: ReasonBadRetrieval},
		{name: "query_id without doc_ids", retr: `{"query":"q","query_id":"a"}`, reason: ReasonBadRetrieval, errPart: "without the other"},
		{name: "doc_ids without query_id", retr: `{"query":"q","doc_ids":["a"]}`, reason: ReasonBadRetrieval, errPart: "without the other"},
		{name: "too many ids", opts: DecoderOptions{MaxRetrievedDocs: 2}, retr: `{"query":"q","query_id":"a","doc_ids":["a","b","c"]}`, reason: ReasonTooManyDocs, errPart: "over the limit of 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := []byte(`{"model":"m","model_version":"v1","retrieval":` + tt.retr + `}`)
			for _, fast := range []bool{true, false} {
				d, err := NewDecoder(tt.opts)
				require.NoError(t, err)
				d.noFast = !fast
				var ev Event
				err = d.Decode(msg, Fallback{}, &ev)
				if tt.reason != "" {
					require.Error(t, err)
					require.Equal(t, tt.reason, ReasonOf(err), err.Error())
					require.Contains(t, err.Error(), tt.errPart)
					continue
				}
				require.NoError(t, err)
				require.Equal(t, tt.id, ev.Retrieval.QueryID)
				require.True(t, ev.Retrieval.HasDocIDs)
				require.Equal(t, tt.docs, append([]uint64{}, ev.Retrieval.DocIDs...))
				// The next event forgets the run.
				require.NoError(t, d.Decode([]byte(`{"model":"m","model_version":"v1","retrieval":{"query":"q","scores":[1]}}`), Fallback{}, &ev))
				require.Equal(t, "", ev.Retrieval.QueryID)
				require.Empty(t, ev.Retrieval.DocIDs)
			}
			decodeBoth(t, tt.opts, msg)
		})
	}
}
