package baseline

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/normwatch/normwatch/pkg/stream"
)

// buildJSONL reads events, one JSON object a line, with the daemon's
// decoder. An event without model or version is taken as the build's; an
// event of another model or version is skipped. A feature that an event
// does not mention counts as missing in it, as a null does.
//
// The Kafka topic range builder (kafka.go) feeds the same accumulator
// through event.
func buildJSONL(in io.Reader, a *accumulator) error {
	do := a.opts.Decoder
	do.KeepRetrievalIDs = true // frozen runs' ids make the reference
	dec, err := stream.NewDecoder(do)
	if err != nil {
		return err
	}
	maxLine := dec.Options().MaxMessageBytes
	fb := stream.Fallback{Headers: []kafka.Header{
		{Key: dec.Options().ModelHeader, Value: []byte(a.opts.SelectModel)},
		{Key: dec.Options().VersionHeader, Value: []byte(a.opts.SelectVersion)},
	}}
	var wantF, wantE map[string]bool
	if a.opts.Features != nil {
		wantF = setOf(a.opts.Features)
	}
	if a.opts.Embeddings != nil {
		wantE = setOf(a.opts.Embeddings)
	}
	r := &csvReader{br: bufio.NewReaderSize(in, 1<<20)}
	var ev stream.Event
	for {
		line, _, err := r.readLine()
		lineNo := r.next
		if err == io.EOF {
			break
		}
		if err == errRecordTooLong {
			a.skipRow(string(stream.ReasonTooLarge), lineNo, err.Error())
			a.row(false)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", a.path, lineNo, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if len(line) > maxLine {
			a.skipRow(string(stream.ReasonTooLarge), lineNo, fmt.Sprintf("%d bytes over the limit of %d", len(line), maxLine))
			a.row(false)
			continue
		}
		if err := dec.Decode(line, fb, &ev); err != nil {
			a.skipRow(string(stream.ReasonOf(err)), lineNo, err.Error())
			a.row(false)
			continue
		}
		a.event(&ev, lineNo, wantF, wantE)
	}
	if a.report.Rows == 0 {
		return fmt.Errorf("%s: %w: the file holds no events", a.path, ErrEmptyInput)
	}
	return a.requested()
}

// event adds one decoded event at line (or offset) to the build, or skips
// it when it belongs to another model or version.
func (a *accumulator) event(ev *stream.Event, lineNo int64, wantF, wantE map[string]bool) {
	if ev.Model != a.opts.SelectModel || ev.Version != a.opts.SelectVersion {
		a.skipRow(SkipOtherModel, lineNo, fmt.Sprintf("event of %s %s", ev.Model, ev.Version))
		a.row(false)
		return
	}
	for i := range ev.Features {
		fv := &ev.Features[i]
		if wantF != nil && !wantF[fv.Name] {
			continue
		}
		f := a.feature(fv.Name)
		f.seen++
		switch {
		case fv.Missing:
			f.sk.AddMissing(1)
		case fv.TypeError:
			a.skipValue(SkipTypeError, lineNo, fv.Name, "not a number")
		default:
			f.sk.Add(fv.Value)
		}
	}
	for i := range ev.Embeddings {
		e := &ev.Embeddings[i]
		if e.Missing || (wantE != nil && !wantE[e.Name]) {
			continue
		}
		a.embedding(e.Name).Add(e.Values)
	}
	a.signals(ev, wantE)
	if !ev.Time.IsZero() {
		if a.first.IsZero() || ev.Time.Before(a.first) {
			a.first = ev.Time
		}
		if ev.Time.After(a.last) {
			a.last = ev.Time
		}
	}
	a.row(true)
}

// requested checks that every feature and embedding asked for was seen.
func (a *accumulator) requested() error {
	for _, l := range []struct {
		names []string
		have  func(string) bool
		what  string
	}{
		{a.opts.Features, func(n string) bool { _, ok := a.features[n]; return ok }, "feature"},
		{a.opts.Embeddings, func(n string) bool { _, ok := a.embeddings[n]; return ok }, "embedding"},
	} {
		for _, n := range l.names {
			if !l.have(n) && a.report.Used > 0 {
				return fmt.Errorf("%s: requested %s %q is in no event (features seen: %s)", a.path, l.what, n, seenNames(a))
			}
		}
	}
	return nil
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func seenNames(a *accumulator) string {
	names := slices.Sorted(maps.Keys(a.features))
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
