package stream

import (
	"math"

	"github.com/valyala/fastjson"
)

// OutcomeValue is one entry of an event's outcomes object: a named
// numeric outcome of the request the event describes (a pass or fail, a
// score), tracked per model version as a rate or a mean.
//
//	"outcomes": {"eval_pass": 1, "context_recall": 0.82, "context_relevance": null}
//
// A value is a finite number, or true and false (read as 1 and 0); null
// is no outcome (Missing). Names are checked as feature names are (not
// empty, at most MaxNameBytes of UTF-8, none twice). A value of another
// JSON type (a string, an object, an array) makes the message a decode
// error, bad_outcome, and so does a non-finite one (NaN, Infinity, 1e999):
// an outcome is a label someone computed, and a label that is not a
// number is a bug upstream to see, not a missing value to smooth over.
// More than MaxOutcomes entries is too_many_outcomes.
type OutcomeValue struct {
	Name    string
	Value   float64 // 0 when Missing
	Missing bool    // the value was null
}

func (d *Decoder) outcomes(key []byte, v *fastjson.Value, depth int, ev *Event) error {
	if depth > d.opts.MaxDepth {
		return errorf(ReasonTooDeep, "nesting over %d", d.opts.MaxDepth)
	}
	o, err := v.Object()
	if err != nil {
		return errorf(ReasonBadOutcome, "%q is a JSON %s, not an object of outcomes", key, v.Type())
	}
	if n := o.Len(); n > d.opts.MaxOutcomes {
		return errorf(ReasonTooManyOutcomes, "%q has %d entries, over the limit of %d", key, n, d.opts.MaxOutcomes)
	}
	d.nextGen()
	i := 0
	o.Visit(func(k []byte, x *fastjson.Value) {
		if err != nil {
			return
		}
		var name string
		if name, err = d.uniqueName(k, &d.outCache, i); err != nil {
			return
		}
		i++
		out := OutcomeValue{Name: name}
		switch x.Type() {
		case fastjson.TypeNumber:
			f, ferr := d.float(x)
			switch {
			case ferr != nil:
				err = errorf(ReasonMalformedJSON, "outcome %q: %w", name, ferr)
				return
			case math.IsNaN(f) || math.IsInf(f, 0):
				err = errorf(ReasonBadOutcome, "outcome %q is %v, not a finite number", name, f)
				return
			}
			out.Value = f
		case fastjson.TypeTrue:
			out.Value = 1
		case fastjson.TypeFalse:
		case fastjson.TypeNull:
			out.Missing = true
		default:
			err = errorf(ReasonBadOutcome, "outcome %q is a JSON %s, not a number, a bool or null", name, x.Type())
			return
		}
		ev.Outcomes = append(ev.Outcomes, out)
	})
	return err
}

// fastOutcomes reads a flat outcomes object on the fast path; anything
// the general decoder would refuse gives up, for its exact reason.
func (d *Decoder) fastOutcomes(s *fastScanner, ev *Event) error {
	if !s.eat('{') {
		return errFast
	}
	d.nextGen()
	if s.eat('}') {
		return nil
	}
	for i := 0; ; i++ {
		if i >= d.opts.MaxOutcomes {
			return errFast
		}
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return errFast
		}
		name, err := d.uniqueName(key, &d.outCache, i)
		if err != nil {
			return err
		}
		out := OutcomeValue{Name: name}
		switch c := s.peek(); {
		case c == '-' || (c >= '0' && c <= '9'):
			var ok bool
			if out.Value, ok = s.float(); !ok || math.IsInf(out.Value, 0) {
				return errFast
			}
		case c == 'n':
			if !s.null() {
				return errFast
			}
			out.Missing = true
		case c == 't':
			if !s.literal() {
				return errFast
			}
			out.Value = 1
		case c == 'f':
			if !s.literal() {
				return errFast
			}
		default:
			return errFast
		}
		ev.Outcomes = append(ev.Outcomes, out)
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errFast
		}
	}
}
