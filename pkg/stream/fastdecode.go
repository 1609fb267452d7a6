package stream

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unsafe"
)

// The fast path of the decoder. An event of the usual shape (its fields
// at the top level, features and raw values as flat objects of numbers,
// embeddings as arrays of numbers or b64f32 strings, names without
// escapes) is read in one pass over its bytes, numbers converted where
// they are found, with no tree built: the JSON parse of a 64-dimension
// array costs a third of what fastjson's does. Whatever the fast path
// does not expect (another shape, an escape, an unknown key, a limit
// reached, anything invalid) makes it give up, and the general decoder
// reads the message from scratch, with its exact reasons and errors. The
// two agree on every event the fast path reads (FuzzFastDecodeAgrees).

// fastFields maps a top-level key to its field, when every configured path
// is a top-level key; nil disables the fast path.
type fastFields []struct {
	key string
	f   field
}

func newFastFields(root *pathNode, rootFeatures bool) fastFields {
	if rootFeatures {
		return nil
	}
	var out fastFields
	for _, c := range root.children {
		if c.field == fieldNone || len(c.children) > 0 {
			return nil
		}
		out = append(out, struct {
			key string
			f   field
		}{c.key, c.field})
	}
	return out
}

func (ff fastFields) lookup(key []byte) field {
	for _, x := range ff {
		if x.key == string(key) {
			return x.f
		}
	}
	return fieldNone
}

// fastScanner walks the bytes of one message.
type fastScanner struct {
	b []byte
	i int
}

// ws skips white space. Producers rarely send any: one comparison says
// so for every byte above the space, before the switch.
func (s *fastScanner) ws() {
	for s.i < len(s.b) && s.b[s.i] <= ' ' {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *fastScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// end reports whether only white space is left.
func (s *fastScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

func (s *fastScanner) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// str reads a string without escapes or control characters and returns
// its bytes (a sub-slice of the message).
func (s *fastScanner) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	// Eight bytes at a time while none of them ends the string or needs
	// the general decoder: a base64 embedding is hundreds of bytes.
	for s.i+8 <= len(s.b) && !specialByte(binary.LittleEndian.Uint64(s.b[s.i:])) {
		s.i += 8
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// Bytes of a word, repeated, for specialByte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialByte reports whether any byte of w is a quote, a backslash or a
// control character (below 0x20). A byte b is one when b^'"' or b^'\\' is
// zero or b is below 0x20: x-ones&^x&highs has the high bit of a byte set
// where that byte of x is below 1 (for zero tests) or below 0x20; a false
// positive is possible only above a true one, which is what the caller
// looks for byte by byte anyway.
func specialByte(w uint64) bool {
	below := func(x, n uint64) uint64 { return (x - n*ones) &^ x & highs }
	return below(w^('"'*ones), 1)|below(w^('\\'*ones), 1)|below(w, 0x20) != 0
}

// number reads a JSON number and returns its text.
func (s *fastScanner) number() ([]byte, bool) {
	s.ws()
	b, i := s.b, s.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	s.i = i
	return b[start:i], true
}

func (s *fastScanner) null() bool {
	s.ws()
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// literal reads true or false.
func (s *fastScanner) literal() bool {
	s.ws()
	for _, w := range []string{"true", "false"} {
		if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
			s.i += len(w)
			return true
		}
	}
	return false
}

// pow10 holds the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// float reads a JSON number and converts it to the nearest float64 in
// the same pass: convert takes mantissas of up to 19 digits with powers
// of ten of up to ±19 (±22 for the shorter ones), and the rest goes to
// strconv with the number's text.
func (s *fastScanner) float() (float64, bool) {
	s.ws()
	b, i := s.b, s.i
	start := i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	var m uint64
	digits, exp := 0, 0
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if digits < 19 {
				m = m*10 + uint64(b[i]-'0')
			} else {
				exp++
			}
			digits++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		// Up to eight digits a step while m has room for them (a zero
		// leading the fraction counts as a digit here, which at worst
		// sends a long number to strconv); the loop below takes the rest.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			n := leadingDigits(w)
			if n == 0 || digits+n > 19 {
				break
			}
			m = m*pow10u[n] + digitsValue(w, n)
			digits += n
			exp -= n
			i += n
			if n < 8 {
				break
			}
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if m == 0 && b[i] == '0' {
				exp--
				continue
			}
			if digits < 19 {
				m = m*10 + uint64(b[i]-'0')
				exp--
			}
			digits++
		}
		if i == d {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		d := i
		e := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if i == d {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	s.i = i
	if digits <= 19 {
		// m holds every digit.
		if f, ok := convert(m, exp); ok {
			if neg {
				f = -f
			}
			return f, true
		}
	}
	f, err := strconv.ParseFloat(unsafe.String(&b[start], i-start), 64)
	return f, err == nil
}

// leadingDigits returns how many of the bytes of w, first byte in memory
// first, are ASCII digits before the first that is not. x = w^'0' makes a
// digit's byte 0 to 9 and any other byte 10 or more; adding 0x76 sets the
// high bit of a byte of 10 or more (a carry out of a byte of 0x8a or more
// can only mark bytes after the first non-digit, which do not count).
func leadingDigits(w uint64) int {
	x := w ^ ('0' * ones)
	nondigit := ((x + 0x76*ones) | x) & highs
	return bits.TrailingZeros64(nondigit) / 8
}

// digitsValue returns the number the first n (1 to 8) bytes of w spell,
// which must be digits. Shifted to the top of the word they are the low
// digits of an eight-digit number with leading zeros, combined pairwise:
// two digits to a 16-bit lane, four to a 32-bit lane, then all eight.
func digitsValue(w uint64, n int) uint64 {
	x := (w ^ ('0' * ones)) << (64 - 8*n)
	x = (x*10 + x>>8) & 0x00ff00ff00ff00ff
	x = (x*100 + x>>16) & 0x0000ffff0000ffff
	return (x*10000 + x>>32) & 0xffffffff
}

// pow10u holds the powers of ten a uint64 holds.
var pow10u = [...]uint64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// convert returns the float64 nearest m·10^exp (ties to even), or false
// when m or exp is out of the ranges it handles exactly. A mantissa below
// 2^53 and a power of ten within ±22 make one correctly rounded floating
// point operation (Clinger's fast path). Otherwise, with a power of ten
// that fits in 64 bits, the exact product or quotient is formed in 128-bit
// integers and rounded once: producers send 16 and 17 digits (the shortest
// text of a float64), and strconv's general algorithm costs a second pass
// over the text and twice the time.
func convert(m uint64, exp int) (float64, bool) {
	switch {
	case m == 0:
		return 0, true
	case m < 1<<53 && exp >= -22 && exp <= 22:
		f := float64(m)
		if exp >= 0 {
			return f * pow10[exp], true
		}
		return f / pow10[-exp], true
	case exp >= 0 && exp < len(pow10u):
		hi, lo := bits.Mul64(m, pow10u[exp])
		// Normalize the product so that its top bit is bit 63 of hi.
		z := uint(bits.LeadingZeros64(hi))
		if hi == 0 {
			z = uint(bits.LeadingZeros64(lo))
			hi, lo = lo<<z, 0
			z += 64
		} else if z > 0 {
			hi, lo = hi<<z|lo>>(64-z), lo<<z
		}
		return round53(hi, lo != 0, 128-int(z)-64), true
	case exp < 0 && -exp < len(pow10u):
		d := pow10u[-exp]
		// m·2^s / d in [2^62, 2^64): its quotient fits Div64 (hi < d)
		// with at least 63 bits, the remainder says what lies below.
		s := 63 + bits.Len64(d) - bits.Len64(m)
		var hi, lo uint64
		if s >= 64 {
			hi = m << (s - 64)
		} else {
			hi, lo = m>>(64-s), m<<s
		}
		q, r := bits.Div64(hi, lo, d)
		if q < 1<<63 {
			// One more bit of the quotient, from the remainder.
			q <<= 1
			s++
			if r >= d-r {
				q |= 1
				r -= d - r
			} else {
				r += r
			}
		}
		return round53(q, r != 0, -s), true
	}
	return 0, false
}

// round53 returns (w + a fraction)·2^e2 rounded to 53 bits, ties to even,
// where w has its top bit set and sticky tells whether the fraction below
// w's last bit is not zero. The result must be a normal float64, which the
// ranges of convert ensure.
func round53(w uint64, sticky bool, e2 int) float64 {
	mant, rest := w>>11, w&(1<<11-1)
	e2 += 11
	if rest > 1<<10 || rest == 1<<10 && (sticky || mant&1 == 1) {
		mant++
		if mant == 1<<53 {
			mant >>= 1
			e2++
		}
	}
	// mant in [2^52, 2^53): mant·2^e2 has the biased exponent e2+52+1023.
	return math.Float64frombits(uint64(e2+52+1023)<<52 | mant&(1<<52-1))
}

// parseNumber converts t, which must be exactly one JSON number, to the
// nearest float64.
func parseNumber(t []byte) (float64, bool) {
	s := fastScanner{b: t}
	f, ok := s.float()
	return f, ok && s.i == len(t)
}

// fastDecode reads value into ev on the fast path, reporting whether it
// could; when it could not, ev holds garbage and the caller starts over.
func (d *Decoder) fastDecode(value []byte, ev *Event) bool {
	s := fastScanner{b: value}
	if !s.eat('{') {
		return false
	}
	var seen uint16
	if s.eat('}') {
		return s.end()
	}
	for {
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return false
		}
		f := d.fast.lookup(key)
		if f == fieldNone {
			return false
		}
		bit := uint16(1) << f
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if !d.fastField(&s, f, ev) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return s.end()
		default:
			return false
		}
	}
}

func (d *Decoder) fastField(s *fastScanner, f field, ev *Event) bool {
	if s.null() {
		return true
	}
	var err error
	switch f {
	case fieldTime:
		switch c := s.peek(); {
		case c == '"':
			b, ok := s.str()
			if !ok {
				return false
			}
			var fb TimeFallback
			if isEpochText(b) {
				ev.Time, fb = d.epochText(b)
			} else {
				ev.Time, fb = parseISO8601(b)
			}
			d.fastTime(ev, fb)
		case c == '-' || (c >= '0' && c <= '9'):
			t, ok := s.number()
			if !ok {
				return false
			}
			var fb TimeFallback
			if n, err := strconv.ParseInt(unsafe.String(&t[0], len(t)), 10, 64); err == nil {
				ev.Time, fb = d.epochInt(n)
			} else if x, ok := parseNumber(t); ok && !math.IsInf(x, 0) {
				ev.Time, fb = d.epochFloat(x)
			} else {
				return false
			}
			d.fastTime(ev, fb)
		default:
			return false
		}
	case fieldModel:
		b, ok := s.str()
		if !ok {
			return false
		}
		ev.Model, _, err = d.name(b, &d.modelCache, 0)
	case fieldVersion:
		var b []byte
		ok := false
		if s.peek() == '"' {
			b, ok = s.str()
		} else {
			b, ok = s.number()
		}
		if !ok {
			return false
		}
		ev.Version, _, err = d.name(b, &d.versionCache, 0)
	case fieldFeatures:
		ev.Features, err = d.fastFeatures(s, ev.Features[:0], &d.featCache)
	case fieldRaw:
		ev.Raw, err = d.fastFeatures(s, ev.Raw[:0], &d.rawCache)
	case fieldEmbeddings:
		err = d.fastEmbeddings(s, ev)
	case fieldRetrieval:
		return false // the general decoder reads the retrieval object
	case fieldOutcomes:
		err = d.fastOutcomes(s, ev)
	case fieldRequestID:
		if s.peek() != '"' {
			return false // the general decoder counts it invalid
		}
		b, ok := s.str()
		if !ok {
			return false
		}
		setRequestID(b, ev)
	}
	return err == nil
}

func (d *Decoder) fastTime(ev *Event, fb TimeFallback) {
	if fb != TimeFallbackNone {
		ev.Time, ev.TimeFallback = time.Time{}, fb
		return
	}
	ev.TimeSource = TimePayload
}

// errFast is what the fast path's helpers return to give up.
var errFast = errorf(ReasonMalformedJSON, "fast path")

func (d *Decoder) fastFeatures(s *fastScanner, dst []FeatureValue, cache *[]cachedName) ([]FeatureValue, error) {
	if !s.eat('{') {
		return dst, errFast
	}
	d.nextGen()
	if s.eat('}') {
		return dst, nil
	}
	for i := 0; ; i++ {
		if i >= d.opts.MaxFeatures {
			return dst, errFast
		}
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return dst, errFast
		}
		name, err := d.uniqueName(key, cache, i)
		if err != nil {
			return dst, err
		}
		fv := FeatureValue{Name: name}
		switch c := s.peek(); {
		case c == '-' || (c >= '0' && c <= '9'):
			var ok bool
			if fv.Value, ok = s.float(); !ok || math.IsInf(fv.Value, 0) {
				return dst, errFast
			}
		case c == 'n':
			if !s.null() {
				return dst, errFast
			}
			fv.Missing = true
		case c == 't' || c == 'f':
			if !s.literal() {
				return dst, errFast
			}
			fv.TypeError = true
		case c == '"':
			if _, ok := s.str(); !ok {
				return dst, errFast
			}
			fv.TypeError = true
		default:
			return dst, errFast
		}
		dst = append(dst, fv)
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return dst, nil
		default:
			return dst, errFast
		}
	}
}

func (d *Decoder) fastEmbeddings(s *fastScanner, ev *Event) error {
	if !s.eat('{') {
		return errFast
	}
	d.nextGen()
	if s.eat('}') {
		return nil
	}
	for i := 0; ; i++ {
		if i >= d.opts.MaxEmbeddings {
			return errFast
		}
		key, ok := s.str()
		if !ok || !s.eat(':') {
			return errFast
		}
		name, err := d.uniqueName(key, &d.embCache, i)
		if err != nil {
			return err
		}
		e := ev.nextEmbedding(name)
		switch s.peek() {
		case 'n':
			if !s.null() {
				return errFast
			}
			e.Missing, e.Values = true, e.Values[:0]
		case '"':
			b, ok := s.str()
			if !ok {
				return errFast
			}
			if e.Values, err = d.b64f32(name, b, e.Values[:0]); err != nil {
				return err
			}
		case '[':
			s.i++
			e.Values = e.Values[:0]
			if !s.eat(']') {
				for {
					if len(e.Values) >= d.opts.MaxDim {
						return errFast
					}
					x, ok := s.float()
					if !ok || math.IsInf(x, 0) {
						return errFast
					}
					e.Values = append(e.Values, float32(x))
					// A separator right after the number, as producers
					// write it, without the white-space skips of eat.
					if s.i < len(s.b) {
						if c := s.b[s.i]; c == ',' {
							s.i++
							continue
						} else if c == ']' {
							s.i++
							break
						}
					}
					if s.eat(',') {
						continue
					}
					if s.eat(']') {
						break
					}
					return errFast
				}
			}
			if len(e.Values) == 0 {
				return errFast
			}
		default:
			return errFast
		}
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
