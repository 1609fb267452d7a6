package stream

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/segmentio/kafka-go"
	"github.com/valyala/fastjson"
)

// Defaults of DecoderOptions. The limits bound the work and memory one
// message can cost; they are far above what a real event needs.
const (
	DefaultTimePath        = "ts"
	DefaultModelPath       = "model"
	DefaultVersionPath     = "model_version"
	DefaultFeaturesPath    = "features"
	DefaultRawPath         = "raw"
	DefaultEmbeddingsPath  = "embeddings"
	DefaultRetrievalPath   = "retrieval"
	DefaultOutcomesPath    = "outcomes"
	DefaultRequestIDPath   = "request_id"
	DefaultRequestIDHeader = "request_id"
	DefaultModelHeader     = "model"
	DefaultVersionHeader   = "model_version"

	DefaultMaxMessageBytes = 1 << 20
	DefaultMaxFeatures     = 1000
	DefaultMaxEmbeddings   = 32
	DefaultMaxDim          = 4096
	DefaultMaxDepth        = 32
	DefaultMaxNameBytes    = 256
	// DefaultMaxRetrievedDocs bounds the documents (and scores) of one
	// event's retrieval: far above a top-k, far below what would let one
	// message cost a window's worth of sketch updates.
	DefaultMaxRetrievedDocs = 256
	// DefaultMaxOutcomes bounds the outcomes of one event.
	DefaultMaxOutcomes = 64
	// DefaultMaxNames bounds the names the decoder keeps so that a name seen
	// before costs no allocation. Names past it still decode, allocated per
	// event, so a flood of distinct names costs garbage, not memory. At
	// worst a Decoder holds MaxNames × (MaxNameBytes + about 80) bytes of
	// names: 5.5 MB with the defaults.
	DefaultMaxNames = 16384
)

// PathDisabled as a path means the field is not read from the payload.
const PathDisabled = "-"

// PathRoot as FeaturesPath reads the features from the event object itself:
// every key that is not another field's (nor on another field's path) and
// whose value is not an object or an array.
const PathRoot = "$"

// Units of a numeric event time (DecoderOptions.TimeUnit).
const (
	// TimeUnitAuto tells epoch seconds, milliseconds, microseconds and
	// nanoseconds apart by magnitude: below 1e11 is seconds (up to the
	// year 5138), below 1e14 milliseconds, below 1e17 microseconds, else
	// nanoseconds. Each range starts where the previous unit's values for
	// the years since 1973 end, so no time of the last fifty years or the
	// next three thousand is read in the wrong unit.
	TimeUnitAuto = "auto"
	TimeUnitS    = "s"
	TimeUnitMS   = "ms"
	TimeUnitUS   = "us"
	TimeUnitNS   = "ns"
)

// Defaults of the keys of a {name, value} list entry.
const (
	DefaultListNameKey  = "name"
	DefaultListValueKey = "value"
)

// B64F32Prefix starts an embedding given as standard base64 of
// little-endian float32 values.
const B64F32Prefix = "b64f32:"

// parserRetainBytes is the largest message whose parsing state is kept for
// the next message.
const parserRetainBytes = 64 << 10

// maxDepthLimit is the deepest nesting the parser itself accepts.
const maxDepthLimit = fastjson.MaxDepth

// DecoderOptions configures a Decoder. Zero fields take the defaults.
//
// A path names a field of the event object; dots separate the keys of nested
// objects ("meta.model"), `\.` is a dot inside a key (`meta\.v2.model` is
// the key "model" of the object under "meta.v2") and `\\` a backslash.
// PathDisabled turns a field off; FeaturesPath may be PathRoot. Model and
// version are looked up in the payload first, then in the message headers
// named by ModelHeader and VersionHeader.
//
// The features, raw and embeddings fields are objects of name to value, or
// lists of entries naming their name and value under ListNameKey and
// ListValueKey: [{"name": "age", "value": 0.41}].
type DecoderOptions struct {
	TimePath string
	// TimeUnit of a numeric time, or of a string of digits: TimeUnitAuto
	// (the default), TimeUnitS, TimeUnitMS, TimeUnitUS or TimeUnitNS.
	TimeUnit       string
	ModelPath      string
	VersionPath    string
	FeaturesPath   string
	RawPath        string
	EmbeddingsPath string
	// RetrievalPath is the path of the retrieval object (retrieval.go).
	RetrievalPath string
	// OutcomesPath is the path of the outcomes object (outcomes.go).
	OutcomesPath string
	// RequestIDPath is the path of the event's request id (a string):
	// what joins a candidate's event with the live version's event of
	// the same request (requestid.go).
	RequestIDPath string
	// RequestIDHeader names the message header read for the request id
	// when the payload has none; "-" reads none.
	RequestIDHeader string
	ModelHeader     string
	VersionHeader   string
	// RouteHeader names the message header that marks an event's model
	// version a candidate (a shadow route): its value is one of
	// CandidateRoutes. Empty reads no header.
	RouteHeader     string
	CandidateRoutes []string
	ListNameKey     string
	ListValueKey    string

	MaxMessageBytes int // message value bytes, in [64, 64 MiB]
	MaxFeatures     int // entries of the features object, and of raw, in [1, 1e6]
	MaxEmbeddings   int // entries of the embeddings object, in [1, 10000]
	MaxDim          int // values of one embedding, in [1, 1<<20]
	MaxDepth        int // object and array nesting, in [paths' need, 300]
	MaxNameBytes    int // bytes of a feature, embedding, model or version name, in [1, 65536]
	MaxNames        int // distinct names remembered, in [1, 1<<24]
	// MaxRetrievedDocs bounds the documents and the scores of one
	// retrieval, in [1, 100000].
	MaxRetrievedDocs int
	// KeepRetrievalIDs keeps a retrieval's doc_ids as text too
	// (Retrieval.DocIDText), beside their hashes: for building a frozen
	// reference, not for the daemon.
	KeepRetrievalIDs bool
	// MaxOutcomes bounds the entries of one event's outcomes object, in
	// [1, 10000].
	MaxOutcomes int
}

// DefaultDecoderOptions returns the options with every default filled in.
func DefaultDecoderOptions() DecoderOptions {
	return DecoderOptions{}.withDefaults()
}

func (o DecoderOptions) withDefaults() DecoderOptions {
	str := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	num := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	str(&o.TimePath, DefaultTimePath)
	str(&o.ModelPath, DefaultModelPath)
	str(&o.VersionPath, DefaultVersionPath)
	str(&o.FeaturesPath, DefaultFeaturesPath)
	str(&o.RawPath, DefaultRawPath)
	str(&o.EmbeddingsPath, DefaultEmbeddingsPath)
	str(&o.RetrievalPath, DefaultRetrievalPath)
	str(&o.OutcomesPath, DefaultOutcomesPath)
	str(&o.RequestIDPath, DefaultRequestIDPath)
	str(&o.RequestIDHeader, DefaultRequestIDHeader)
	str(&o.ModelHeader, DefaultModelHeader)
	str(&o.VersionHeader, DefaultVersionHeader)
	str(&o.TimeUnit, TimeUnitAuto)
	str(&o.ListNameKey, DefaultListNameKey)
	str(&o.ListValueKey, DefaultListValueKey)
	num(&o.MaxMessageBytes, DefaultMaxMessageBytes)
	num(&o.MaxFeatures, DefaultMaxFeatures)
	num(&o.MaxEmbeddings, DefaultMaxEmbeddings)
	num(&o.MaxDim, DefaultMaxDim)
	num(&o.MaxDepth, DefaultMaxDepth)
	num(&o.MaxNameBytes, DefaultMaxNameBytes)
	num(&o.MaxNames, DefaultMaxNames)
	num(&o.MaxRetrievedDocs, DefaultMaxRetrievedDocs)
	num(&o.MaxOutcomes, DefaultMaxOutcomes)
	return o
}

// paths lists the configurable paths with their option names, in the order
// Validate checks them.
func (o DecoderOptions) paths() []struct {
	name, path string
	f          field
} {
	return []struct {
		name, path string
		f          field
	}{
		{"TimePath", o.TimePath, fieldTime},
		{"ModelPath", o.ModelPath, fieldModel},
		{"VersionPath", o.VersionPath, fieldVersion},
		{"FeaturesPath", o.FeaturesPath, fieldFeatures},
		{"RawPath", o.RawPath, fieldRaw},
		{"EmbeddingsPath", o.EmbeddingsPath, fieldEmbeddings},
		{"RetrievalPath", o.RetrievalPath, fieldRetrieval},
		{"OutcomesPath", o.OutcomesPath, fieldOutcomes},
		{"RequestIDPath", o.RequestIDPath, fieldRequestID},
	}
}

// Validate reports the first option out of its range, by name. It expects
// the defaults filled in, as NewDecoder does.
func (o DecoderOptions) Validate() error {
	intRange := []struct {
		name     string
		v        int
		min, max int
	}{
		{"MaxMessageBytes", o.MaxMessageBytes, 64, 64 << 20},
		{"MaxFeatures", o.MaxFeatures, 1, 1_000_000},
		{"MaxEmbeddings", o.MaxEmbeddings, 1, 10_000},
		{"MaxDim", o.MaxDim, 1, 1 << 20},
		{"MaxDepth", o.MaxDepth, 1, maxDepthLimit},
		{"MaxNameBytes", o.MaxNameBytes, 1, 65536},
		{"MaxNames", o.MaxNames, 1, 1 << 24},
		{"MaxRetrievedDocs", o.MaxRetrievedDocs, 1, 100_000},
		{"MaxOutcomes", o.MaxOutcomes, 1, 10_000},
	}
	for _, r := range intRange {
		if r.v < r.min || r.v > r.max {
			return fmt.Errorf("stream: decoder option %s: %d out of range [%d, %d]", r.name, r.v, r.min, r.max)
		}
	}
	if o.ModelHeader == "" || o.VersionHeader == "" {
		return errors.New("stream: decoder options ModelHeader and VersionHeader must not be empty")
	}
	switch o.TimeUnit {
	case TimeUnitAuto, TimeUnitS, TimeUnitMS, TimeUnitUS, TimeUnitNS:
	default:
		return fmt.Errorf("stream: decoder option TimeUnit: %q is not one of %s, %s, %s, %s, %s", o.TimeUnit, TimeUnitAuto, TimeUnitS, TimeUnitMS, TimeUnitUS, TimeUnitNS)
	}
	if o.ListNameKey == o.ListValueKey {
		return fmt.Errorf("stream: decoder options ListNameKey and ListValueKey are both %q", o.ListNameKey)
	}
	type pathUse struct {
		name, path string
		leaf       bool
	}
	seen := map[string]pathUse{}
	need := 1
	for _, p := range o.paths() {
		if p.path == PathDisabled {
			continue
		}
		if p.path == PathRoot {
			if p.f != fieldFeatures {
				return fmt.Errorf("stream: decoder option %s: %q (the event itself) is for FeaturesPath only", p.name, p.path)
			}
			need = max(need, 1)
			continue
		}
		segs, err := SplitPath(p.path)
		if err != nil {
			return fmt.Errorf("stream: decoder option %s: %q: %w", p.name, p.path, err)
		}
		// A container field's own level and, for embeddings, the array
		// inside it must fit under MaxDepth.
		d := len(segs)
		switch p.f {
		case fieldFeatures, fieldRaw, fieldOutcomes:
			d++
		case fieldEmbeddings:
			d += 2
		case fieldRetrieval:
			d += 3 // the object, its docs list, a doc's array
		}
		need = max(need, d)
		for i := 1; i <= len(segs); i++ {
			prefix := strings.Join(segs[:i], "\x00")
			leaf := i == len(segs)
			if other, ok := seen[prefix]; ok && (leaf || other.leaf) {
				return fmt.Errorf("stream: decoder option %s: %q overlaps %s %q", p.name, p.path, other.name, other.path)
			}
			if _, ok := seen[prefix]; !ok || leaf {
				seen[prefix] = pathUse{p.name, p.path, leaf}
			}
		}
	}
	if o.MaxDepth < need {
		return fmt.Errorf("stream: decoder option MaxDepth: %d is below the %d levels the paths need", o.MaxDepth, need)
	}
	return nil
}

// SplitPath splits a path into its keys: dots separate them, `\.` is a
// dot inside a key and `\\` a backslash. Every key must be non-empty.
func SplitPath(p string) ([]string, error) {
	var segs []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			if i+1 == len(p) || (p[i+1] != '.' && p[i+1] != '\\') {
				return nil, fmt.Errorf("backslash at byte %d escapes neither a dot nor a backslash", i)
			}
			i++
			cur.WriteByte(p[i])
		case '.':
			if cur.Len() == 0 {
				return nil, errors.New("empty key")
			}
			segs = append(segs, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() == 0 {
		return nil, errors.New("empty key")
	}
	return append(segs, cur.String()), nil
}

// Reason is why a message could not be decoded: a stable label value of
// normwatch_decode_errors_total and of the dead-letter headers.
type Reason string

// Reasons a message is rejected.
const (
	ReasonTooLarge          Reason = "too_large"           // over MaxMessageBytes
	ReasonMalformedJSON     Reason = "malformed_json"      // not JSON, not an object, or a bad number
	ReasonTooDeep           Reason = "too_deep"            // nesting over MaxDepth
	ReasonBadField          Reason = "bad_field"           // a known field of the wrong JSON type
	ReasonTooManyFeatures   Reason = "too_many_features"   // over MaxFeatures
	ReasonTooManyEmbeddings Reason = "too_many_embeddings" // over MaxEmbeddings
	ReasonDimTooLarge       Reason = "dim_too_large"       // an embedding over MaxDim
	ReasonBadEmbedding      Reason = "bad_embedding"       // not numbers, not b64f32, empty, or bad base64
	// ReasonBadTimestamp is no longer given: an event time that cannot be
	// used falls back to the Kafka timestamp (Event.TimeFallback). The
	// label value stays, at zero, for the dashboards that name it.
	ReasonBadTimestamp   Reason = "bad_timestamp"
	ReasonMissingModel   Reason = "missing_model"   // in neither payload nor headers
	ReasonMissingVersion Reason = "missing_version" // in neither payload nor headers
	ReasonNameInvalid    Reason = "name_invalid"    // empty, over MaxNameBytes, or not UTF-8
	ReasonDuplicateName  Reason = "duplicate_name"  // a name or field given twice

	// The retrieval object's (retrieval.go).
	ReasonBadRetrieval   Reason = "bad_retrieval"          // not the retrieval object's shape
	ReasonTooManyDocs    Reason = "too_many_docs"          // over MaxRetrievedDocs documents or scores
	ReasonRetrievalDim   Reason = "retrieval_dim_mismatch" // documents of another dimension than each other or the query
	ReasonNonFiniteScore Reason = "nonfinite_score"        // a NaN or infinite score, or document component
	ReasonBadRetrievalID Reason = "bad_retrieval_id"       // a query or document id not a string, empty, not UTF-8 or over MaxRetrievalIDBytes

	// The outcomes object's (outcomes.go).
	ReasonBadOutcome      Reason = "bad_outcome"       // not an object, or a value not a finite number, a bool or null
	ReasonTooManyOutcomes Reason = "too_many_outcomes" // over MaxOutcomes
)

// Reasons returns every Reason, so that counters can be created at zero.
func Reasons() []Reason {
	return []Reason{
		ReasonTooLarge, ReasonMalformedJSON, ReasonTooDeep, ReasonBadField,
		ReasonTooManyFeatures, ReasonTooManyEmbeddings, ReasonDimTooLarge,
		ReasonBadEmbedding, ReasonBadTimestamp, ReasonMissingModel,
		ReasonMissingVersion, ReasonNameInvalid, ReasonDuplicateName,
		ReasonInternalError,
		ReasonBadRetrieval, ReasonTooManyDocs, ReasonRetrievalDim, ReasonNonFiniteScore,
		ReasonBadRetrievalID,
		ReasonBadOutcome, ReasonTooManyOutcomes,
	}
}

// DecodeError is returned for a message that cannot be decoded.
type DecodeError struct {
	Reason Reason
	Err    error // what exactly was wrong
}

func (e *DecodeError) Error() string {
	return "decoding event: " + string(e.Reason) + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of a *DecodeError in err's chain, or "".
func ReasonOf(err error) Reason {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}

func errorf(r Reason, format string, args ...any) error {
	return &DecodeError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// TimeSource tells where Event.Time came from.
type TimeSource uint8

// Sources of an event's time.
const (
	TimeNone    TimeSource = iota // neither payload nor fallback had one
	TimePayload                   // the payload's timestamp field
	TimeKafka                     // Fallback.Time, the Kafka message timestamp
)

// TimeFallback is why an event's own time was not used and the Kafka
// timestamp was: a stable label value of normwatch_event_time_fallbacks_total.
type TimeFallback string

// Reasons an event's time falls back to its Kafka timestamp.
const (
	TimeFallbackNone       TimeFallback = ""
	TimeFallbackAbsent     TimeFallback = "absent"       // no time field, or null
	TimeFallbackBadType    TimeFallback = "bad_type"     // a bool, object or array
	TimeFallbackBadFormat  TimeFallback = "bad_format"   // a string that is no time normwatch reads
	TimeFallbackOutOfRange TimeFallback = "out_of_range" // a number or a date outside the years 1678 to 2261
)

// TimeFallbacks returns every TimeFallback but TimeFallbackNone, so that
// counters can be created at zero.
func TimeFallbacks() []TimeFallback {
	return []TimeFallback{TimeFallbackAbsent, TimeFallbackBadType, TimeFallbackBadFormat, TimeFallbackOutOfRange}
}

// FeatureValue is one entry of the features (or raw) object. At most one of
// Missing and TypeError is set, and then Value is 0.
type FeatureValue struct {
	Name      string
	Value     float64 // may be NaN or ±Inf, which the parser accepts as NaN, Inf and 1e999
	Missing   bool    // the value was null
	TypeError bool    // the value was a string, bool, object or array
}

// EmbeddingValue is one entry of the embeddings object.
type EmbeddingValue struct {
	Name    string
	Values  []float32 // nil when Missing
	Missing bool      // the value was null
}

// Event is one decoded message. A Decoder reuses an Event's slices from one
// message to the next: copy what must outlive the next Decode. Names are
// immutable strings owned by nobody else, safe to keep.
type Event struct {
	Time       time.Time // UTC; zero when TimeSource is TimeNone
	TimeSource TimeSource
	// KafkaTime is the message's Kafka timestamp (Fallback.Time), zero when
	// unknown: what a payload time too far in the future is checked against.
	KafkaTime time.Time
	// TimeFallback tells why the payload's time was not used, when a time
	// path is configured and it was not.
	TimeFallback TimeFallback
	Model        string
	Version      string
	// Candidate is set when the message's RouteHeader holds one of the
	// CandidateRoutes: the event is of a candidate (shadow) version.
	Candidate  bool
	Features   []FeatureValue
	Raw        []FeatureValue // the same features before normalization
	Embeddings []EmbeddingValue
	// Retrieval is the event's retrieval object, if Retrieval.Present.
	Retrieval Retrieval
	// Outcomes are the event's named outcomes (outcomes.go).
	Outcomes []OutcomeValue
	// RequestID is the event's request id, empty when it has none;
	// RequestIDInvalid tells one was there but not usable (requestid.go).
	RequestID        string
	RequestIDInvalid bool
}

// Reset empties e, keeping its slices for reuse.
func (e *Event) Reset() {
	e.Time, e.TimeSource, e.KafkaTime, e.TimeFallback, e.Model, e.Version = time.Time{}, TimeNone, time.Time{}, TimeFallbackNone, "", ""
	e.Candidate = false
	e.RequestID, e.RequestIDInvalid = "", false
	e.Features = e.Features[:0]
	e.Raw = e.Raw[:0]
	e.Embeddings = e.Embeddings[:0]
	e.Retrieval.reset()
	e.Outcomes = e.Outcomes[:0]
}

// TypeErrors returns how many features and raw values were not numbers.
func (e *Event) TypeErrors() int {
	n := 0
	for i := range e.Features {
		if e.Features[i].TypeError {
			n++
		}
	}
	for i := range e.Raw {
		if e.Raw[i].TypeError {
			n++
		}
	}
	return n
}

// Fallback holds what the message carries besides its value: the time used
// when the payload has none, and the headers searched for model and version
// when the payload has none.
type Fallback struct {
	Time    time.Time
	Headers []kafka.Header
}

type field uint8

const (
	fieldNone field = iota
	fieldTime
	fieldModel
	fieldVersion
	fieldFeatures
	fieldRaw
	fieldEmbeddings
	fieldRetrieval
	fieldOutcomes
	fieldRequestID
)

// pathNode is a node of the trie of configured paths.
type pathNode struct {
	key      string
	field    field // set on leaves only
	children []pathNode
}

func (n *pathNode) add(segs []string, f field) {
	for i := range n.children {
		if n.children[i].key == segs[0] {
			n.children[i].add(segs[1:], f)
			return
		}
	}
	c := pathNode{key: segs[0]}
	if len(segs) == 1 {
		c.field = f
	} else {
		c.add(segs[1:], f)
	}
	n.children = append(n.children, c)
}

// Decoder decodes event messages. It is not safe for concurrent use: give
// each partition's goroutine its own.
type Decoder struct {
	opts DecoderOptions
	root pathNode

	p     fastjson.Parser
	names interner

	// Per position, the name last seen there: events of one producer list
	// their names in the same order, so a comparison replaces a map lookup.
	featCache, rawCache, embCache, outCache []cachedName
	modelCache, versionCache                []cachedName
	retrCache                               []cachedName

	// seen[id] == gen marks a name already met in the object being decoded.
	seen     []uint32
	gen      uint32
	overflow map[string]struct{} // the same, for names past MaxNames

	fieldsSeen uint16 // bit per field, to catch a field given twice
	b64        []byte

	rootFeatures bool // FeaturesPath is PathRoot
	timed        bool // a TimePath is configured

	num    []byte     // a number's text, for float
	fast   fastFields // the fast path's top-level keys; nil: no fast path
	noFast bool       // for tests: the general decoder alone
}

type cachedName struct {
	name string
	id   int32
}

// NewDecoder returns a Decoder, or an error naming the bad option.
func NewDecoder(opts DecoderOptions) (*Decoder, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	d := &Decoder{opts: opts, timed: opts.TimePath != PathDisabled, rootFeatures: opts.FeaturesPath == PathRoot}
	for _, p := range opts.paths() {
		if p.path != PathDisabled && p.path != PathRoot {
			segs, _ := SplitPath(p.path) // validated
			d.root.add(segs, p.f)
		}
	}
	d.names = interner{ids: map[string]int32{}, max: opts.MaxNames}
	d.fast = newFastFields(&d.root, d.rootFeatures)
	return d, nil
}

// Options returns the options d was built with, defaults filled in.
func (d *Decoder) Options() DecoderOptions { return d.opts }

// DecodeMessage decodes m's value with m's time and headers as fallback.
func (d *Decoder) DecodeMessage(m *kafka.Message, ev *Event) error {
	return d.Decode(m.Value, Fallback{Time: m.Time, Headers: m.Headers}, ev)
}

// Decode decodes one message value into ev, replacing its contents. On error
// ev holds a partial event that must be ignored.
func (d *Decoder) Decode(value []byte, fb Fallback, ev *Event) error {
	ev.Reset()
	if len(value) > d.opts.MaxMessageBytes {
		return errorf(ReasonTooLarge, "%d bytes over the limit of %d", len(value), d.opts.MaxMessageBytes)
	}
	if d.fast != nil && !d.noFast {
		if d.fastDecode(value, ev) {
			return d.finish(fb, ev)
		}
		ev.Reset()
	}
	if err := d.parse(value, ev); err != nil {
		return err
	}
	return d.finish(fb, ev)
}

// parse reads value into ev with the general decoder.
func (d *Decoder) parse(value []byte, ev *Event) error {
	if len(value) > parserRetainBytes {
		// The parser keeps its buffer and one node per JSON value for
		// reuse: after a big message, let the garbage collector have them
		// rather than hold tens of MB per decoder.
		defer func() { d.p = fastjson.Parser{} }()
	}
	root, err := d.p.ParseBytes(value)
	if err != nil {
		if strings.Contains(err.Error(), "too big depth") {
			return errorf(ReasonTooDeep, "nesting over %d", maxDepthLimit)
		}
		return &DecodeError{Reason: ReasonMalformedJSON, Err: err}
	}
	if root.Type() != fastjson.TypeObject {
		return errorf(ReasonMalformedJSON, "event is a JSON %s, not an object", root.Type())
	}
	d.fieldsSeen = 0
	if err := d.walk(root, &d.root, 1, ev); err != nil {
		return err
	}
	if d.rootFeatures {
		if err := d.featuresAtRoot(root, ev); err != nil {
			return err
		}
	}
	return nil
}

// finish completes a decoded ev: the fallbacks of time, model and version
// from the message, and the checks that it has a model and a version.
func (d *Decoder) finish(fb Fallback, ev *Event) error {
	if err := d.checkRetrieval(ev); err != nil {
		return err
	}
	if d.timed && ev.TimeSource == TimeNone && ev.TimeFallback == TimeFallbackNone {
		ev.TimeFallback = TimeFallbackAbsent
	}

	if !fb.Time.IsZero() {
		ev.KafkaTime = fb.Time.UTC()
		if ev.TimeSource == TimeNone {
			ev.Time, ev.TimeSource = ev.KafkaTime, TimeKafka
		}
	}
	if ev.Model == "" || ev.Version == "" {
		for i := range fb.Headers {
			h := &fb.Headers[i]
			var dst *string
			var cache *[]cachedName
			switch {
			case ev.Model == "" && h.Key == d.opts.ModelHeader:
				dst, cache = &ev.Model, &d.modelCache
			case ev.Version == "" && h.Key == d.opts.VersionHeader:
				dst, cache = &ev.Version, &d.versionCache
			default:
				continue
			}
			s, _, err := d.name(h.Value, cache, 0)
			if err != nil {
				return errorf(ReasonNameInvalid, "header %q: %w", h.Key, err)
			}
			*dst = s
		}
	}
	if ev.RequestID == "" && !ev.RequestIDInvalid && d.opts.RequestIDHeader != "-" {
		for i := range fb.Headers {
			if h := &fb.Headers[i]; h.Key == d.opts.RequestIDHeader {
				setRequestID(h.Value, ev)
			}
		}
	}
	if d.opts.RouteHeader != "" {
		for i := range fb.Headers {
			if h := &fb.Headers[i]; h.Key == d.opts.RouteHeader {
				ev.Candidate = false
				for _, r := range d.opts.CandidateRoutes {
					ev.Candidate = ev.Candidate || string(h.Value) == r // no allocation
				}
			}
		}
	}
	if ev.Model == "" {
		return errorf(ReasonMissingModel, "no model in payload or header %q", d.opts.ModelHeader)
	}
	if ev.Version == "" {
		return errorf(ReasonMissingVersion, "no model version in payload or header %q", d.opts.VersionHeader)
	}
	return nil
}

// walk visits obj, an object at nesting depth, whose keys are matched
// against the children of node.
func (d *Decoder) walk(obj *fastjson.Value, node *pathNode, depth int, ev *Event) error {
	if depth > d.opts.MaxDepth {
		return errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
	}
	o, _ := obj.Object()
	var err error
	o.Visit(func(key []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		var child *pathNode
		for i := range node.children {
			if node.children[i].key == string(key) {
				child = &node.children[i]
				break
			}
		}
		switch {
		case child == nil:
			err = d.checkDepth(v, depth+1)
		case child.field == fieldNone:
			switch v.Type() {
			case fastjson.TypeObject:
				err = d.walk(v, child, depth+1, ev)
			case fastjson.TypeNull:
			default:
				err = errorf(ReasonBadField, "%q is a JSON %s, not an object", key, v.Type())
			}
		default:
			bit := uint16(1) << child.field
			if d.fieldsSeen&bit != 0 {
				err = errorf(ReasonDuplicateName, "field %q given twice", key)
				return
			}
			d.fieldsSeen |= bit
			err = d.field(child.field, key, v, depth+1, ev)
		}
	})
	return err
}

// checkDepth walks a value the decoder does not otherwise read, to enforce
// MaxDepth on the whole message.
func (d *Decoder) checkDepth(v *fastjson.Value, depth int) error {
	switch v.Type() {
	case fastjson.TypeObject:
		if depth > d.opts.MaxDepth {
			return errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
		}
		o, _ := v.Object()
		var err error
		o.Visit(func(_ []byte, c *fastjson.Value) {
			if err == nil {
				err = d.checkDepth(c, depth+1)
			}
		})
		return err
	case fastjson.TypeArray:
		if depth > d.opts.MaxDepth {
			return errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
		}
		a, _ := v.Array()
		for _, c := range a {
			if err := d.checkDepth(c, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Decoder) field(f field, key []byte, v *fastjson.Value, depth int, ev *Event) error {
	t := v.Type()
	if t == fastjson.TypeNull {
		return nil // an absent field
	}
	var err error
	switch f {
	case fieldTime:
		d.timestamp(v, ev)
	case fieldModel:
		if t != fastjson.TypeString {
			return errorf(ReasonBadField, "model %q is a JSON %s, not a string", key, t)
		}
		ev.Model, _, err = d.name(v.GetStringBytes(), &d.modelCache, 0)
		if err != nil {
			err = errorf(ReasonNameInvalid, "model: %w", err)
		}
	case fieldVersion:
		var b []byte
		switch t {
		case fastjson.TypeString:
			b = v.GetStringBytes()
		case fastjson.TypeNumber:
			// A version given as a number is named by its JSON text.
			b = v.MarshalTo(d.b64[:0])
			d.b64 = b
		default:
			return errorf(ReasonBadField, "model version %q is a JSON %s, not a string or number", key, t)
		}
		ev.Version, _, err = d.name(b, &d.versionCache, 0)
		if err != nil {
			err = errorf(ReasonNameInvalid, "model version: %w", err)
		}
	case fieldFeatures:
		ev.Features, err = d.features(key, v, depth, ev.Features[:0], &d.featCache)
	case fieldRaw:
		ev.Raw, err = d.features(key, v, depth, ev.Raw[:0], &d.rawCache)
	case fieldEmbeddings:
		err = d.embeddings(key, v, depth, ev)
	case fieldRetrieval:
		err = d.retrieval(key, v, depth, ev)
	case fieldOutcomes:
		err = d.outcomes(key, v, depth, ev)
	case fieldRequestID:
		if t != fastjson.TypeString {
			ev.RequestID, ev.RequestIDInvalid = "", true
			break
		}
		setRequestID(v.GetStringBytes(), ev)
	}
	return err
}

// The times an event may carry: those of int64 nanoseconds since the
// epoch, as the engine keeps them (the years 1678 to 2262).
var (
	minEventTime = time.Unix(0, math.MinInt64).UTC()
	maxEventTime = time.Unix(0, math.MaxInt64).UTC()
)

// timestamp reads the event time, or says in ev.TimeFallback why it cannot
// be used: an unusable time is no reason to lose the event.
func (d *Decoder) timestamp(v *fastjson.Value, ev *Event) {
	var t time.Time
	var fb TimeFallback
	switch v.Type() {
	case fastjson.TypeString:
		b := v.GetStringBytes()
		if isEpochText(b) {
			t, fb = d.epochText(b)
		} else {
			t, fb = parseISO8601(b)
		}
	case fastjson.TypeNumber:
		if n, err := v.Int64(); err == nil {
			t, fb = d.epochInt(n)
		} else if f, err := d.float(v); err == nil {
			t, fb = d.epochFloat(f)
		} else {
			fb = TimeFallbackOutOfRange
		}
	default:
		fb = TimeFallbackBadType
	}
	if fb != TimeFallbackNone {
		ev.TimeFallback = fb
		return
	}
	ev.Time, ev.TimeSource = t, TimePayload
}

// unitNanos is the nanoseconds of one unit of an epoch time of magnitude
// abs: the configured unit, or TimeUnitAuto's pick.
func (d *Decoder) unitNanos(abs float64) int64 {
	switch d.opts.TimeUnit {
	case TimeUnitS:
		return 1e9
	case TimeUnitMS:
		return 1e6
	case TimeUnitUS:
		return 1e3
	case TimeUnitNS:
		return 1
	}
	switch {
	case abs < 1e11:
		return 1e9
	case abs < 1e14:
		return 1e6
	case abs < 1e17:
		return 1e3
	}
	return 1
}

func (d *Decoder) epochInt(n int64) (time.Time, TimeFallback) {
	abs := math.Abs(float64(n))
	unit := d.unitNanos(abs)
	if n > math.MaxInt64/unit || n < math.MinInt64/unit {
		return time.Time{}, TimeFallbackOutOfRange
	}
	return time.Unix(0, n*unit).UTC(), TimeFallbackNone
}

func (d *Decoder) epochFloat(f float64) (time.Time, TimeFallback) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, TimeFallbackOutOfRange
	}
	unit := d.unitNanos(math.Abs(f))
	// Whole seconds apart from the fraction, so that a fractional epoch
	// keeps its precision.
	perSec := float64(1e9 / unit)
	if unit > 1e9 {
		perSec = 1
	}
	sec := math.Floor(f / perSec)
	if !(sec >= float64(minEventTime.Unix())+1 && sec <= float64(maxEventTime.Unix())-1) {
		return time.Time{}, TimeFallbackOutOfRange
	}
	ns := (f - sec*perSec) * float64(unit)
	return time.Unix(int64(sec), int64(ns)).UTC(), TimeFallbackNone
}

// isEpochText tells whether b is a number written as a string: an optional
// minus, digits, and an optional fraction.
func isEpochText(b []byte) bool {
	i := 0
	if len(b) > 0 && b[0] == '-' {
		i++
	}
	digits, dot := 0, false
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && len(b) <= 32
}

func (d *Decoder) epochText(b []byte) (time.Time, TimeFallback) {
	s := unsafe.String(&b[0], len(b))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return d.epochInt(n)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, TimeFallbackOutOfRange
	}
	return d.epochFloat(f)
}

// parseISO8601 reads the ISO 8601 (and RFC 3339) times producers write:
// YYYY-MM-DD, then optionally T, t or a space and hh:mm, :ss, a fraction
// after . or ",", and a zone: Z, z, UTC, ±hh:mm, ±hhmm or ±hh, optionally
// after a space. A time without a zone is UTC. It allocates nothing.
func parseISO8601(b []byte) (time.Time, TimeFallback) {
	bad := func() (time.Time, TimeFallback) { return time.Time{}, TimeFallbackBadFormat }
	num := func(i, n int) (int, bool) {
		if i+n > len(b) {
			return 0, false
		}
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	if len(b) < 10 || len(b) > 64 || b[4] != '-' || b[7] != '-' {
		return bad()
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 {
		return bad()
	}
	var hour, minute, sec, nsec, offset int
	i := 10
	if i < len(b) {
		if c := b[i]; c != 'T' && c != 't' && c != ' ' {
			return bad()
		}
		var ok bool
		if hour, ok = num(i+1, 2); !ok || i+3 >= len(b) || b[i+3] != ':' {
			return bad()
		}
		if minute, ok = num(i+4, 2); !ok {
			return bad()
		}
		i += 6
		if i < len(b) && b[i] == ':' {
			if sec, ok = num(i+1, 2); !ok {
				return bad()
			}
			i += 3
			if i < len(b) && (b[i] == '.' || b[i] == ',') {
				i++
				start := i
				scale := 100_000_000
				for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
					nsec += int(b[i]-'0') * scale
					scale /= 10
				}
				if i == start {
					return bad()
				}
			}
		}
		if i < len(b) && b[i] == ' ' {
			i++
			if i == len(b) {
				return bad()
			}
		}
		if i < len(b) {
			switch c := b[i]; {
			case c == 'Z' || c == 'z':
				i++
			case c == 'U' && i+3 == len(b) && b[i+1] == 'T' && b[i+2] == 'C':
				i += 3
			case c == '+' || c == '-':
				oh, ok := num(i+1, 2)
				if !ok {
					return bad()
				}
				i += 3
				om := 0
				if i < len(b) && b[i] == ':' {
					i++
				}
				if i < len(b) {
					if om, ok = num(i, 2); !ok {
						return bad()
					}
					i += 2
				}
				if oh > 23 || om > 59 {
					return bad()
				}
				offset = oh*3600 + om*60
				if c == '-' {
					offset = -offset
				}
			default:
				return bad()
			}
		}
		if i != len(b) {
			return bad()
		}
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 60 {
		return bad()
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	if t.Before(minEventTime) || t.After(maxEventTime) {
		return time.Time{}, TimeFallbackOutOfRange
	}
	return t, TimeFallbackNone
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func (d *Decoder) features(key []byte, v *fastjson.Value, depth int, dst []FeatureValue, cache *[]cachedName) ([]FeatureValue, error) {
	if depth > d.opts.MaxDepth {
		return dst, errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
	}
	switch v.Type() {
	case fastjson.TypeObject:
	case fastjson.TypeArray:
		return d.featureList(key, v, depth, dst, cache)
	default:
		return dst, errorf(ReasonBadField, "%q is a JSON %s, not an object or a list", key, v.Type())
	}
	o, _ := v.Object()
	if n := o.Len(); n > d.opts.MaxFeatures {
		return dst, errorf(ReasonTooManyFeatures, "%q has %d entries, over the limit of %d", key, n, d.opts.MaxFeatures)
	}
	d.nextGen()
	var err error
	i := 0
	o.Visit(func(k []byte, fv *fastjson.Value) {
		if err != nil {
			return
		}
		var name string
		name, err = d.uniqueName(k, cache, i)
		i++
		if err != nil {
			return
		}
		var f FeatureValue
		f, err = d.feature(name, fv, depth+1)
		dst = append(dst, f)
	})
	return dst, err
}

// featureList reads features given as a list of {name, value} entries.
func (d *Decoder) featureList(key []byte, v *fastjson.Value, depth int, dst []FeatureValue, cache *[]cachedName) ([]FeatureValue, error) {
	a, _ := v.Array()
	if len(a) > d.opts.MaxFeatures {
		return dst, errorf(ReasonTooManyFeatures, "%q has %d entries, over the limit of %d", key, len(a), d.opts.MaxFeatures)
	}
	d.nextGen()
	for i, e := range a {
		name, val, err := d.listEntry(key, i, e, depth+1, cache)
		if err != nil {
			return dst, err
		}
		f := FeatureValue{Name: name, Missing: true}
		if val != nil {
			if f, err = d.feature(name, val, depth+2); err != nil {
				return dst, err
			}
		}
		dst = append(dst, f)
	}
	return dst, nil
}

// listEntry returns the name and the value (nil when absent) of entry i of
// a list field, an object at depth.
func (d *Decoder) listEntry(key []byte, i int, e *fastjson.Value, depth int, cache *[]cachedName) (string, *fastjson.Value, error) {
	if depth > d.opts.MaxDepth {
		return "", nil, errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
	}
	o, err := e.Object()
	if err != nil {
		return "", nil, errorf(ReasonBadField, "%q[%d] is a JSON %s, not an object with %q and %q", key, i, e.Type(), d.opts.ListNameKey, d.opts.ListValueKey)
	}
	nv := o.Get(d.opts.ListNameKey)
	if nv == nil || nv.Type() != fastjson.TypeString {
		return "", nil, errorf(ReasonBadField, "%q[%d] has no string %q", key, i, d.opts.ListNameKey)
	}
	name, err := d.uniqueName(nv.GetStringBytes(), cache, i)
	if err != nil {
		return "", nil, err
	}
	val := o.Get(d.opts.ListValueKey)
	if val != nil && val.Type() == fastjson.TypeNull {
		val = nil
	}
	// The entry's other keys are left alone, but not their depth.
	var derr error
	o.Visit(func(k []byte, c *fastjson.Value) {
		if derr == nil && string(k) != d.opts.ListValueKey && string(k) != d.opts.ListNameKey {
			derr = d.checkDepth(c, depth+1)
		}
	})
	return name, val, derr
}

// feature reads one feature value at depth.
func (d *Decoder) feature(name string, fv *fastjson.Value, depth int) (FeatureValue, error) {
	f := FeatureValue{Name: name}
	switch fv.Type() {
	case fastjson.TypeNumber:
		v, err := d.float(fv)
		if err != nil {
			return f, &DecodeError{Reason: ReasonMalformedJSON, Err: fmt.Errorf("feature %q: %w", name, err)}
		}
		f.Value = v
	case fastjson.TypeNull:
		f.Missing = true
	case fastjson.TypeObject, fastjson.TypeArray:
		f.TypeError = true
		return f, d.checkDepth(fv, depth)
	default:
		f.TypeError = true
	}
	return f, nil
}

// featuresAtRoot reads the features of an event whose FeaturesPath is
// PathRoot: every key of the event object that is not another field's nor
// on another field's path, and whose value is not an object or an array
// (structure, not a feature).
func (d *Decoder) featuresAtRoot(root *fastjson.Value, ev *Event) error {
	o, _ := root.Object()
	d.nextGen()
	var err error
	i := 0
	o.Visit(func(k []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		if t := v.Type(); t == fastjson.TypeObject || t == fastjson.TypeArray {
			return
		}
		for j := range d.root.children {
			if d.root.children[j].key == string(k) {
				return
			}
		}
		if len(ev.Features) == d.opts.MaxFeatures {
			err = errorf(ReasonTooManyFeatures, "the event has more than %d features", d.opts.MaxFeatures)
			return
		}
		var name string
		if name, err = d.uniqueName(k, &d.featCache, i); err != nil {
			return
		}
		i++
		var f FeatureValue
		f, err = d.feature(name, v, 2)
		ev.Features = append(ev.Features, f)
	})
	return err
}

func (d *Decoder) embeddings(key []byte, v *fastjson.Value, depth int, ev *Event) error {
	if depth > d.opts.MaxDepth {
		return errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
	}
	switch v.Type() {
	case fastjson.TypeObject:
	case fastjson.TypeArray:
		a, _ := v.Array()
		if len(a) > d.opts.MaxEmbeddings {
			return errorf(ReasonTooManyEmbeddings, "%q has %d entries, over the limit of %d", key, len(a), d.opts.MaxEmbeddings)
		}
		d.nextGen()
		for i, e := range a {
			name, val, err := d.listEntry(key, i, e, depth+1, &d.embCache)
			if err != nil {
				return err
			}
			if err := d.embedding(name, val, depth+2, ev); err != nil {
				return err
			}
		}
		return nil
	default:
		return errorf(ReasonBadField, "%q is a JSON %s, not an object or a list", key, v.Type())
	}
	o, _ := v.Object()
	if n := o.Len(); n > d.opts.MaxEmbeddings {
		return errorf(ReasonTooManyEmbeddings, "%q has %d entries, over the limit of %d", key, n, d.opts.MaxEmbeddings)
	}
	d.nextGen()
	var err error
	i := 0
	o.Visit(func(k []byte, ejv *fastjson.Value) {
		if err != nil {
			return
		}
		var name string
		name, err = d.uniqueName(k, &d.embCache, i)
		i++
		if err != nil {
			return
		}
		err = d.embedding(name, ejv, depth+1, ev)
	})
	return err
}

// nextEmbedding appends an embedding slot named name to e and returns it,
// reusing the slot's Values from an earlier event.
func (e *Event) nextEmbedding(name string) *EmbeddingValue {
	n := len(e.Embeddings)
	if n < cap(e.Embeddings) {
		e.Embeddings = e.Embeddings[:n+1]
	} else {
		e.Embeddings = append(e.Embeddings, EmbeddingValue{})
	}
	ev := &e.Embeddings[n]
	ev.Name, ev.Missing = name, false
	return ev
}

// embedding appends the embedding name of value ejv (nil: missing), at
// depth, to ev.
func (d *Decoder) embedding(name string, ejv *fastjson.Value, depth int, ev *Event) error {
	e := ev.nextEmbedding(name)
	if ejv == nil {
		e.Missing, e.Values = true, e.Values[:0]
		return nil
	}
	var err error
	switch ejv.Type() {
	case fastjson.TypeNull:
		e.Missing, e.Values = true, e.Values[:0]
	case fastjson.TypeArray:
		e.Values, err = d.floatArray(name, ejv, depth, e.Values[:0])
	case fastjson.TypeString:
		e.Values, err = d.b64f32(name, ejv.GetStringBytes(), e.Values[:0])
	default:
		err = errorf(ReasonBadEmbedding, "embedding %q is a JSON %s, not an array or %q string", name, ejv.Type(), B64F32Prefix)
	}
	return err
}

func (d *Decoder) floatArray(name string, v *fastjson.Value, depth int, dst []float32) ([]float32, error) {
	if depth > d.opts.MaxDepth {
		return dst, errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
	}
	a, _ := v.Array()
	switch {
	case len(a) > d.opts.MaxDim:
		return dst, errorf(ReasonDimTooLarge, "embedding %q has %d values, over the limit of %d", name, len(a), d.opts.MaxDim)
	case len(a) == 0:
		return dst, errorf(ReasonBadEmbedding, "embedding %q is empty", name)
	}
	if cap(dst) < len(a) {
		dst = make([]float32, 0, len(a))
	}
	for j, x := range a {
		if x.Type() != fastjson.TypeNumber {
			return dst, errorf(ReasonBadEmbedding, "embedding %q[%d] is a JSON %s, not a number", name, j, x.Type())
		}
		f, err := d.float(x)
		if err != nil {
			return dst, &DecodeError{Reason: ReasonMalformedJSON, Err: fmt.Errorf("embedding %q[%d]: %w", name, j, err)}
		}
		dst = append(dst, float32(f))
	}
	return dst, nil
}

func (d *Decoder) b64f32(name string, s []byte, dst []float32) ([]float32, error) {
	if !bytes.HasPrefix(s, []byte(B64F32Prefix)) {
		return dst, errorf(ReasonBadEmbedding, "embedding %q is a string without the %q prefix", name, B64F32Prefix)
	}
	s = s[len(B64F32Prefix):]
	if len(s)%4 != 0 {
		return dst, errorf(ReasonBadEmbedding, "embedding %q: %d base64 characters, not a multiple of 4", name, len(s))
	}
	n := len(s) / 4 * 3
	if n > 0 && s[len(s)-1] == '=' {
		n--
		if s[len(s)-2] == '=' {
			n--
		}
	}
	switch {
	case n%4 != 0:
		return dst, errorf(ReasonBadEmbedding, "embedding %q: %d bytes, not a whole number of float32", name, n)
	case n/4 > d.opts.MaxDim:
		return dst, errorf(ReasonDimTooLarge, "embedding %q has %d values, over the limit of %d", name, n/4, d.opts.MaxDim)
	case n == 0:
		return dst, errorf(ReasonBadEmbedding, "embedding %q is empty", name)
	}
	dim := n / 4
	if cap(dst) < dim {
		dst = make([]float32, dim)
	}
	dst = dst[:dim]
	var buf []byte
	if littleEndian {
		// The float32s' own memory is their little-endian bytes: decode
		// straight into it. Decode writes exactly n bytes for valid input.
		buf = unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), n)
	} else {
		if cap(d.b64) < n {
			d.b64 = make([]byte, n)
		}
		buf = d.b64[:n]
	}
	m, err := base64.StdEncoding.Decode(buf, s)
	if err != nil || m != n {
		// Decode skips newlines, which makes m short of n.
		return dst, errorf(ReasonBadEmbedding, "embedding %q: invalid base64", name)
	}
	if !littleEndian {
		for j := range dst {
			dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*j:]))
		}
	}
	return dst, nil
}

// littleEndian tells whether float32s are stored as little-endian bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// nextGen starts a new object for duplicate detection.
func (d *Decoder) nextGen() {
	d.gen++
	if d.gen == 0 {
		clear(d.seen)
		d.gen = 1
	}
	if len(d.overflow) > 0 {
		clear(d.overflow)
	}
}

// uniqueName is name for an object key that must not repeat in its object.
func (d *Decoder) uniqueName(key []byte, cache *[]cachedName, i int) (string, error) {
	s, id, err := d.name(key, cache, i)
	if err != nil {
		return "", errorf(ReasonNameInvalid, "%w", err)
	}
	if id >= 0 {
		if d.seen[id] == d.gen {
			return "", errorf(ReasonDuplicateName, "%q given twice", s)
		}
		d.seen[id] = d.gen
		return s, nil
	}
	if d.overflow == nil {
		d.overflow = map[string]struct{}{}
	}
	if _, dup := d.overflow[s]; dup {
		return "", errorf(ReasonDuplicateName, "%q given twice", s)
	}
	d.overflow[s] = struct{}{}
	return s, nil
}

// name returns the string for b and its id (-1 when not interned), checking
// it is a valid name. cache, when not nil, remembers the name at position i.
func (d *Decoder) name(b []byte, cache *[]cachedName, i int) (string, int32, error) {
	if cache != nil && i < len(*cache) {
		if c := (*cache)[i]; c.name == string(b) {
			return c.name, c.id, nil
		}
	}
	if len(b) == 0 {
		return "", -1, errors.New("empty name")
	}
	if len(b) > d.opts.MaxNameBytes {
		return "", -1, fmt.Errorf("%d-byte name %.32q... over the limit of %d bytes", len(b), b, d.opts.MaxNameBytes)
	}
	s, id, ok := d.names.get(b)
	if !ok {
		if !utf8.Valid(b) {
			return "", -1, fmt.Errorf("name %q is not valid UTF-8", b)
		}
		s, id = d.names.add(b)
		if id >= 0 && int(id) >= len(d.seen) {
			d.seen = append(d.seen, make([]uint32, int(id)+1-len(d.seen))...)
		}
	}
	if cache != nil && id >= 0 {
		switch {
		case i < len(*cache):
			(*cache)[i] = cachedName{s, id}
		case i == len(*cache):
			*cache = append(*cache, cachedName{s, id})
		}
	}
	return s, id, nil
}

// interner keeps up to max distinct names, so that a name seen before costs
// a lookup and no allocation.
type interner struct {
	ids   map[string]int32
	names []string
	max   int
}

func (in *interner) get(b []byte) (string, int32, bool) {
	id, ok := in.ids[string(b)]
	if !ok {
		return "", -1, false
	}
	return in.names[id], id, true
}

// add interns b, or, when full, returns a fresh copy and id -1.
func (in *interner) add(b []byte) (string, int32) {
	s := string(b)
	if len(in.names) >= in.max {
		return s, -1
	}
	id := int32(len(in.names))
	in.names = append(in.names, s)
	in.ids[s] = id
	return s, id
}

// float converts a JSON number of the parsed tree to the nearest float64,
// as the fast path does: fastjson's own conversion is a rounding step off
// for some inputs (-4.003E-01 gives -0.40030000000000004). What is not a
// plain JSON number in range (NaN, Infinity, 1e999, which producers send
// and which count as non-finite values, or 1.2.3, an error) keeps
// fastjson's reading.
func (d *Decoder) float(v *fastjson.Value) (float64, error) {
	d.num = v.MarshalTo(d.num[:0])
	if f, ok := parseNumber(d.num); ok {
		return f, nil
	}
	return v.Float64()
}
