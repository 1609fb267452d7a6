package stream

import (
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// Retrieval is an event's retrieval object: what a retriever returned for
// the event's query, for the query-document similarity signal.
//
//	"retrieval": {"query": "query",                    // an embedding of the event: the query vector
//	              "docs": [[0.1, ...], "b64f32:...", ...], // the retrieved documents' vectors
//	              "scores": [0.83, 0.79, ...],          // the retriever's scores
//	              "metric": "dot",                       // how to score docs without scores: dot, cosine, l2
//	              "query_id": "fq-0017",                 // a frozen query's id (frozen-query retrieval)
//	              "doc_ids": ["d12", "d7", ...]}         // the retrieved documents' ids, in rank order
//
// query is required: it names the signal (the embedding it is reported
// on). An event carries scores, or docs with the query's vector in its
// embeddings, or both; with both, the scores are the retriever's and must
// be as many as the docs. Bad shapes, documents of another dimension than
// each other or the query, non-finite scores or document components and
// more than MaxRetrievedDocs entries make the message a decode error.
//
// query_id and doc_ids go together: a run of a frozen query, whose
// retrieved ids are scored against a baseline's reference top-k. With
// them, scores and docs may be left out. An id must be a non-empty UTF-8
// string of at most MaxRetrievalIDBytes bytes (bad_retrieval_id); more
// than MaxRetrievedDocs ids is too_many_docs. Document ids are kept as
// their sketch.DocID hashes, in rank order.
type Retrieval struct {
	Present bool
	Query   string // the query embedding's name
	Metric  string // sketch.MetricDot (also for ""), MetricCosine or MetricL2
	Dim     int    // the documents' dimension, 0 without docs
	NDocs   int
	Docs    []float32 // NDocs × Dim values, one document after the other
	Scores  []float64
	// QueryID is the frozen query's id, "" without; DocIDs the hashes of
	// the retrieved ids (HasDocIDs: the event carried doc_ids, maybe
	// empty).
	QueryID   string
	DocIDs    []uint64
	HasDocIDs bool
	// DocIDText holds the ids themselves with
	// DecoderOptions.KeepRetrievalIDs.
	DocIDText []string
}

// MaxRetrievalIDBytes bounds a query or document id of a retrieval.
const MaxRetrievalIDBytes = 256

func (r *Retrieval) reset() {
	r.Present, r.Query, r.Metric, r.Dim, r.NDocs = false, "", "", 0, 0
	r.Docs, r.Scores = r.Docs[:0], r.Scores[:0]
	r.QueryID, r.DocIDs, r.HasDocIDs, r.DocIDText = "", r.DocIDs[:0], false, r.DocIDText[:0]
}

// retrievalID checks one id of a retrieval.
func retrievalID(what string, x *fastjson.Value) ([]byte, error) {
	if x.Type() != fastjson.TypeString {
		return nil, errorf(ReasonBadRetrievalID, "%s is a JSON %s, not a string", what, x.Type())
	}
	b := x.GetStringBytes()
	switch {
	case len(b) == 0:
		return nil, errorf(ReasonBadRetrievalID, "%s is empty", what)
	case len(b) > MaxRetrievalIDBytes:
		return nil, errorf(ReasonBadRetrievalID, "%s has %d bytes, over the limit of %d", what, len(b), MaxRetrievalIDBytes)
	case !utf8.Valid(b):
		return nil, errorf(ReasonBadRetrievalID, "%s is not UTF-8", what)
	}
	return b, nil
}

// Doc returns document i's vector.
func (r *Retrieval) Doc(i int) []float32 { return r.Docs[i*r.Dim : (i+1)*r.Dim] }

// QueryVector returns the vector of the retrieval's query embedding in ev,
// or nil when ev carries none.
func (ev *Event) QueryVector() []float32 {
	if !ev.Retrieval.Present {
		return nil
	}
	for i := range ev.Embeddings {
		if e := &ev.Embeddings[i]; e.Name == ev.Retrieval.Query && !e.Missing {
			return e.Values
		}
	}
	return nil
}

// docsName names the documents in the embedding decoders' errors, which
// retrieval then prefixes with the document's index.
const docsName = "document"

func (d *Decoder) retrieval(key []byte, v *fastjson.Value, depth int, ev *Event) error {
	if depth > d.opts.MaxDepth {
		return errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
	}
	o, err := v.Object()
	if err != nil {
		return errorf(ReasonBadRetrieval, "%q is a JSON %s, not an object", key, v.Type())
	}
	r := &ev.Retrieval
	r.Present = true
	var docs, scores *fastjson.Value
	o.Visit(func(k []byte, x *fastjson.Value) {
		if err != nil {
			return
		}
		switch string(k) {
		case "query":
			if x.Type() != fastjson.TypeString {
				err = errorf(ReasonBadRetrieval, "%s.query is a JSON %s, not the name of an embedding", key, x.Type())
				return
			}
			var e error
			if r.Query, _, e = d.name(x.GetStringBytes(), &d.retrCache, 0); e != nil {
				err = errorf(ReasonNameInvalid, "%s.query: %w", key, e)
			}
		case "metric":
			m := string(x.GetStringBytes())
			if x.Type() != fastjson.TypeString || !sketch.ValidMetric(m) {
				err = errorf(ReasonBadRetrieval, "%s.metric %s: want %s", key, x, sketch.Metrics)
				return
			}
			r.Metric = m
		case "query_id":
			b, e := retrievalID(string(key)+".query_id", x)
			if e != nil {
				err = e
				return
			}
			r.QueryID = string(b)
		case "doc_ids":
			err = d.docIDs(key, x, r)
		case "docs":
			docs = x
		case "scores":
			scores = x
		default:
			err = d.checkDepth(x, depth+1)
		}
	})
	if err != nil {
		return err
	}
	if r.Query == "" {
		return errorf(ReasonBadRetrieval, "%s has no query (the name of the query embedding)", key)
	}
	if scores != nil && scores.Type() != fastjson.TypeNull {
		a, e := scores.Array()
		if e != nil {
			return errorf(ReasonBadRetrieval, "%s.scores is a JSON %s, not an array of numbers", key, scores.Type())
		}
		if len(a) > d.opts.MaxRetrievedDocs {
			return errorf(ReasonTooManyDocs, "%s.scores has %d entries, over the limit of %d", key, len(a), d.opts.MaxRetrievedDocs)
		}
		for j, x := range a {
			if x.Type() != fastjson.TypeNumber {
				return errorf(ReasonBadRetrieval, "%s.scores[%d] is a JSON %s, not a number", key, j, x.Type())
			}
			f, e := d.float(x)
			if e != nil {
				return &DecodeError{Reason: ReasonMalformedJSON, Err: e}
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return errorf(ReasonNonFiniteScore, "%s.scores[%d] is %v", key, j, f)
			}
			r.Scores = append(r.Scores, f)
		}
	}
	if docs != nil && docs.Type() != fastjson.TypeNull {
		a, e := docs.Array()
		if e != nil {
			return errorf(ReasonBadRetrieval, "%s.docs is a JSON %s, not an array of vectors", key, docs.Type())
		}
		if len(a) > d.opts.MaxRetrievedDocs {
			return errorf(ReasonTooManyDocs, "%s.docs has %d entries, over the limit of %d", key, len(a), d.opts.MaxRetrievedDocs)
		}
		// A document's name, for errors only: building it for every
		// document would cost an allocation each.
		name := func(j int) string { return string(key) + ".docs[" + strconv.Itoa(j) + "]" }
		for j, x := range a {
			// The vector is decoded at the end of Docs, in place.
			n := len(r.Docs)
			var one []float32
			switch x.Type() {
			case fastjson.TypeArray:
				one, err = d.floatArray(docsName, x, depth+2, r.Docs[n:n])
			case fastjson.TypeString:
				one, err = d.b64f32(docsName, x.GetStringBytes(), r.Docs[n:n])
			default:
				err = errorf(ReasonBadRetrieval, "%s is a JSON %s, not an array or %q string", name(j), x.Type(), B64F32Prefix)
			}
			if err != nil {
				if de, ok := err.(*DecodeError); ok {
					if de.Reason == ReasonBadEmbedding {
						de.Reason = ReasonBadRetrieval
					}
					de.Err = fmt.Errorf("%s: %w", name(j), de.Err)
				}
				return err
			}
			if j == 0 {
				r.Dim = len(one)
			} else if len(one) != r.Dim {
				return errorf(ReasonRetrievalDim, "%s has %d dimensions, the first document %d", name(j), len(one), r.Dim)
			}
			for _, c := range one {
				if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
					return errorf(ReasonNonFiniteScore, "%s has a component %v: its score is not finite", name(j), c)
				}
			}
			if cap(r.Docs) > n && &one[0] == &r.Docs[:n+1][n] {
				r.Docs = r.Docs[:n+len(one)] // decoded in place, in Docs' spare capacity
			} else {
				r.Docs = append(r.Docs, one...) // decoded into new memory: Docs grows
			}
			r.NDocs++
		}
	}
	if len(r.Scores) > 0 && r.NDocs > 0 && len(r.Scores) != r.NDocs {
		return errorf(ReasonBadRetrieval, "%s has %d scores for %d docs", key, len(r.Scores), r.NDocs)
	}
	if (r.QueryID != "") != r.HasDocIDs {
		return errorf(ReasonBadRetrieval, "%s has query_id or doc_ids without the other", key)
	}
	return nil
}

// docIDs decodes a retrieval's doc_ids into r.DocIDs, as hashes.
func (d *Decoder) docIDs(key []byte, x *fastjson.Value, r *Retrieval) error {
	if x.Type() == fastjson.TypeNull {
		return nil
	}
	a, err := x.Array()
	if err != nil {
		return errorf(ReasonBadRetrieval, "%s.doc_ids is a JSON %s, not an array of ids", key, x.Type())
	}
	if len(a) > d.opts.MaxRetrievedDocs {
		return errorf(ReasonTooManyDocs, "%s.doc_ids has %d entries, over the limit of %d", key, len(a), d.opts.MaxRetrievedDocs)
	}
	r.HasDocIDs = true
	for j, v := range a {
		if v.Type() != fastjson.TypeString {
			return errorf(ReasonBadRetrievalID, "%s.doc_ids[%d] is a JSON %s, not a string", key, j, v.Type())
		}
		b, err := retrievalID("", v)
		if err != nil {
			err.(*DecodeError).Err = fmt.Errorf("%s.doc_ids[%d]%w", key, j, err.(*DecodeError).Err)
			return err
		}
		r.DocIDs = append(r.DocIDs, sketch.DocID(b))
		if d.opts.KeepRetrievalIDs {
			r.DocIDText = append(r.DocIDText, string(b))
		}
	}
	return nil
}

// checkRetrieval holds the retrieval against the event's embeddings, once
// all are decoded: documents without scores need the query's vector, and
// documents must have its dimension.
func (d *Decoder) checkRetrieval(ev *Event) error {
	r := &ev.Retrieval
	if !r.Present {
		return nil
	}
	q := ev.QueryVector()
	switch {
	case len(r.Scores) == 0 && r.NDocs == 0 && r.QueryID == "":
		return errorf(ReasonBadRetrieval, "retrieval of %q has neither scores nor docs", r.Query)
	case len(r.Scores) == 0 && r.NDocs > 0 && q == nil:
		return errorf(ReasonBadRetrieval, "retrieval of %q has docs but no scores, and the event no %q embedding to score them with", r.Query, r.Query)
	case q != nil && r.NDocs > 0 && len(q) != r.Dim:
		return errorf(ReasonRetrievalDim, "retrieval of %q: documents have %d dimensions, the query %d", r.Query, r.Dim, len(q))
	}
	return nil
}
