package baseline

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unsafe"

	"github.com/normwatch/normwatch/pkg/sketch"
	"github.com/normwatch/normwatch/pkg/stream"
)

// sampleRows is how many rows decide which CSV columns are numeric or
// embeddings when the options do not name them.
const sampleRows = 1000

// maxRecordBytes bounds one CSV record or JSONL line, so that a file
// without newlines cannot take all memory.
const maxRecordBytes = 64 << 20

// csvReader reads RFC 4180 records. It is faster than encoding/csv for
// the common case, a line without quotes, which it splits in place; a line
// with quotes goes through a full parser (quoted fields may hold commas,
// doubled quotes and newlines). Fields are valid until the next call.
type csvReader struct {
	br     *bufio.Reader
	line   int64 // line of the last record's start, 1-based
	next   int64 // line the next record starts on
	fields [][]byte
	buf    []byte // a quoted record's bytes, out of br's buffer
	long   []byte // a line longer than br's buffer
	quoted []byte // unescaped quoted fields
}

var errRecordTooLong = errors.New("record longer than 64 MiB")

// readLine returns the next line without its line ending; the slice is
// valid until the next read.
func (r *csvReader) readLine() ([]byte, bool, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		dst := append(r.long[:0], line...)
		defer func() { r.long = dst[:0] }()
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
			dst = append(dst, line...)
			if len(dst) > maxRecordBytes {
				// Skip the rest of the line.
				for err == bufio.ErrBufferFull {
					_, err = r.br.ReadSlice('\n')
				}
				r.next++
				return nil, false, errRecordTooLong
			}
		}
		line = dst
	}
	if len(line) == 0 && err != nil {
		return nil, false, err
	}
	r.next++
	nl := len(line) > 0 && line[len(line)-1] == '\n'
	if nl {
		line = line[:len(line)-1]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
	}
	if err == io.EOF {
		err = nil
	}
	return line, nl, err
}

// read returns the next record. Blank lines are skipped. A record that
// cannot be parsed returns an error wrapping errMalformed, and reading can
// go on with the next record.
func (r *csvReader) read() ([][]byte, error) {
	for {
		r.line = r.next + 1
		line, _, err := r.readLine()
		if err != nil {
			if err == errRecordTooLong {
				return nil, fmt.Errorf("%w: %w", errMalformed, err)
			}
			return nil, err
		}
		if len(line) == 0 {
			continue
		}
		r.fields = r.fields[:0]
		if bytes.IndexByte(line, '"') < 0 {
			for {
				i := bytes.IndexByte(line, ',')
				if i < 0 {
					r.fields = append(r.fields, line)
					return r.fields, nil
				}
				r.fields = append(r.fields, line[:i])
				line = line[i+1:]
			}
		}
		return r.readQuoted(line)
	}
}

var errMalformed = errors.New("malformed row")

// readQuoted parses a record with quotes, reading more lines while a
// quoted field is open.
func (r *csvReader) readQuoted(line []byte) ([][]byte, error) {
	// Copy: further lines overwrite the reader's buffer.
	rec := append(r.buf[:0], line...)
	r.quoted = r.quoted[:0]
	var spans []span
	i := 0
	for {
		if i < len(rec) && rec[i] == '"' {
			// Quoted field.
			start := len(r.quoted)
			i++
			for {
				j := bytes.IndexByte(rec[i:], '"')
				if j < 0 {
					// The field goes on on the next line.
					r.quoted = append(r.quoted, rec[i:]...)
					r.quoted = append(r.quoted, '\n')
					next, nl, err := r.readLine()
					if err != nil || (!nl && len(next) == 0) {
						if err == nil || err == io.EOF {
							err = io.ErrUnexpectedEOF
						}
						r.buf = rec
						return nil, fmt.Errorf("%w: quoted field not closed: %w", errMalformed, err)
					}
					if len(r.quoted)+len(next) > maxRecordBytes {
						r.buf = rec
						return nil, fmt.Errorf("%w: %w", errMalformed, errRecordTooLong)
					}
					rec = append(rec[:0], next...)
					i = 0
					continue
				}
				r.quoted = append(r.quoted, rec[i:i+j]...)
				i += j + 1
				if i < len(rec) && rec[i] == '"' {
					r.quoted = append(r.quoted, '"')
					i++
					continue
				}
				break
			}
			spans = append(spans, span{start, len(r.quoted)})
			switch {
			case i == len(rec):
				r.buf = rec
				return r.collect(spans), nil
			case rec[i] == ',':
				i++
				if i == len(rec) {
					spans = append(spans, span{len(r.quoted), len(r.quoted)})
					r.buf = rec
					return r.collect(spans), nil
				}
			default:
				r.buf = rec
				return nil, fmt.Errorf("%w: %q after a closing quote", errMalformed, rec[i])
			}
			continue
		}
		// Unquoted field: up to the next comma.
		j := bytes.IndexByte(rec[i:], ',')
		end := len(rec)
		if j >= 0 {
			end = i + j
		}
		if k := bytes.IndexByte(rec[i:end], '"'); k >= 0 {
			r.buf = rec
			return nil, fmt.Errorf("%w: a quote inside an unquoted field", errMalformed)
		}
		start := len(r.quoted)
		r.quoted = append(r.quoted, rec[i:end]...)
		spans = append(spans, span{start, len(r.quoted)})
		if j < 0 {
			r.buf = rec
			return r.collect(spans), nil
		}
		i = end + 1
		if i == len(rec) {
			spans = append(spans, span{len(r.quoted), len(r.quoted)})
			r.buf = rec
			return r.collect(spans), nil
		}
	}
}

type span struct{ start, end int }

func (r *csvReader) collect(spans []span) [][]byte {
	r.fields = r.fields[:0]
	for _, s := range spans {
		r.fields = append(r.fields, r.quoted[s.start:s.end:s.end])
	}
	return r.fields
}

// column kinds of a CSV file.
type colKind uint8

const (
	colIgnored colKind = iota
	colFeature
	colEmbedding
)

func buildCSV(in io.Reader, a *accumulator) error {
	r := &csvReader{br: bufio.NewReaderSize(in, 1<<20)}
	header, err := r.read()
	if err == io.EOF {
		return fmt.Errorf("%s: %w: the file is empty (no header row)", a.path, ErrEmptyInput)
	}
	if err != nil {
		return fmt.Errorf("%s:%d: header: %w", a.path, r.line, err)
	}
	names := make([]string, len(header))
	index := map[string]int{}
	for i, h := range header {
		name := strings.TrimSpace(string(h))
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff")
		}
		if name == "" && i == 0 && len(header) > 1 {
			return fmt.Errorf("%s:%d: header: column 1 has no name: it looks like the index pandas writes with DataFrame.to_csv(); write the file with to_csv(path, index=False), or name the column", a.path, r.line)
		}
		if name == "" {
			return fmt.Errorf("%s:%d: header: column %d has no name", a.path, r.line, i+1)
		}
		if j, dup := index[name]; dup {
			return fmt.Errorf("%s:%d: header: column %q appears twice (columns %d and %d)", a.path, r.line, name, j+1, i+1)
		}
		names[i], index[name] = name, i
	}
	kinds := make([]colKind, len(names))
	for _, l := range []struct {
		names []string
		kind  colKind
		what  string
	}{{a.opts.Features, colFeature, "feature"}, {a.opts.Embeddings, colEmbedding, "embedding"}} {
		for _, n := range l.names {
			i, ok := index[n]
			if !ok {
				return fmt.Errorf("%s:%d: requested %s column %q is not in the header (columns: %s)", a.path, r.line, l.what, n, strings.Join(names, ", "))
			}
			kinds[i] = l.kind
		}
	}

	// Rows read to decide the columns, replayed after.
	var sample [][][]byte
	var sampleLines []int64
	var sampleErr []error
	if a.opts.Features == nil || a.opts.Embeddings == nil {
		for len(sample) < sampleRows {
			rec, err := r.read()
			if err == io.EOF {
				break
			}
			if err != nil && !errors.Is(err, errMalformed) {
				return fmt.Errorf("%s:%d: %w", a.path, r.line, err)
			}
			cp := make([][]byte, len(rec))
			for i, f := range rec {
				cp[i] = bytes.Clone(f)
			}
			sample = append(sample, cp)
			sampleLines = append(sampleLines, r.line)
			sampleErr = append(sampleErr, err)
		}
		if len(sample) == 0 {
			return fmt.Errorf("%s: %w: the input has no data rows", a.path, ErrEmptyInput)
		}
		classify(kinds, names, sample, a.opts.Features == nil, a.opts.Embeddings == nil)
	}
	var featIdx, embIdx []int
	for i, k := range kinds {
		switch k {
		case colFeature:
			featIdx = append(featIdx, i)
		case colEmbedding:
			embIdx = append(embIdx, i)
		}
	}
	if len(featIdx)+len(embIdx) == 0 {
		return fmt.Errorf("%s: %w: no numeric or embedding column among %s", a.path, ErrEmptyInput, strings.Join(names, ", "))
	}
	p := &csvRows{a: a, names: names, featIdx: featIdx, embIdx: embIdx}
	for i := range featIdx {
		p.feats = append(p.feats, a.feature(names[featIdx[i]]))
	}
	for i := range embIdx {
		p.embs = append(p.embs, a.embedding(names[embIdx[i]]))
		p.acts = append(p.acts, a.activationFor(names[embIdx[i]]))
	}
	for i, rec := range sample {
		p.row(rec, sampleLines[i], sampleErr[i])
	}
	sample = nil
	for {
		rec, err := r.read()
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, errMalformed) {
			return fmt.Errorf("%s:%d: %w", a.path, r.line, err)
		}
		p.row(rec, r.line, err)
	}
}

// classify decides the kinds of the columns the options leave open from
// sample rows: a column is a feature when every non-empty cell is a
// number, an embedding when every non-empty cell is a JSON array or a
// b64f32 string; a column empty in every sample row is left out.
func classify(kinds []colKind, names []string, sample [][][]byte, features, embeddings bool) {
	for i := range kinds {
		if kinds[i] != colIgnored {
			continue
		}
		num, emb, other := 0, 0, 0
		for _, rec := range sample {
			if len(rec) != len(names) {
				continue
			}
			c := trimSpace(rec[i])
			switch {
			case len(c) == 0:
			case isNumber(c):
				num++
			case c[0] == '[' || bytes.HasPrefix(c, []byte(stream.B64F32Prefix)):
				emb++
			default:
				other++
			}
		}
		switch {
		case other > 0:
		case features && num > 0 && emb == 0:
			kinds[i] = colFeature
		case embeddings && emb > 0 && num == 0:
			kinds[i] = colEmbedding
		}
	}
}

func isNumber(c []byte) bool {
	_, ok := parseFloat(c)
	return ok
}

// csvRows feeds CSV records to the accumulator.
type csvRows struct {
	a       *accumulator
	names   []string
	featIdx []int
	embIdx  []int
	feats   []*featureAcc
	embs    []*sketch.Vector
	acts    []*sketch.Activation // per embedding column, nil unless an activation field
	vec     []float32
}

func (p *csvRows) row(rec [][]byte, line int64, err error) {
	a := p.a
	if err != nil {
		a.skipRow(SkipMalformedRow, line, err.Error())
		a.row(false)
		return
	}
	if len(rec) != len(p.names) {
		a.skipRow(SkipMalformedRow, line, fmt.Sprintf("%d fields, the header has %d", len(rec), len(p.names)))
		a.row(false)
		return
	}
	for k, i := range p.featIdx {
		f := p.feats[k]
		f.seen++
		c := rec[i]
		if len(c) == 0 {
			f.sk.AddMissing(1)
			continue
		}
		x, ok := parseFloat(c)
		if !ok {
			if c = trimSpace(c); len(c) == 0 {
				f.sk.AddMissing(1)
				continue
			}
			if x, ok = parseFloat(c); !ok {
				a.skipValue(SkipNonNumeric, line, p.names[i], strconv.Quote(string(c)))
				continue
			}
		}
		f.sk.Add(x)
	}
	for k, i := range p.embIdx {
		c := trimSpace(rec[i])
		if len(c) == 0 {
			continue
		}
		v, err := parseEmbedding(c, p.vec[:0])
		p.vec = v
		if err != nil {
			a.skipValue(SkipBadEmbedding, line, p.names[i], err.Error())
			continue
		}
		p.embs[k].Add(v)
		if act := p.acts[k]; act != nil {
			act.Add(v)
		}
	}
	a.row(true)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseEmbedding parses a JSON array of numbers or a b64f32 string.
func parseEmbedding(c []byte, dst []float32) ([]float32, error) {
	if bytes.HasPrefix(c, []byte(stream.B64F32Prefix)) {
		return decodeB64F32(c[len(stream.B64F32Prefix):], dst)
	}
	if len(c) < 2 || c[0] != '[' || c[len(c)-1] != ']' {
		return dst, errors.New("neither a JSON array nor a b64f32 string")
	}
	body := trimSpace(c[1 : len(c)-1])
	if len(body) == 0 {
		return dst, errors.New("empty array")
	}
	for j := 0; ; j++ {
		k := bytes.IndexByte(body, ',')
		e := body
		if k >= 0 {
			e = body[:k]
		}
		e = bytes.TrimSpace(e)
		x, ok := parseFloat(e)
		if !ok || !jsonNumber(e) {
			return dst, fmt.Errorf("element %d: %q is not a JSON number", j, e)
		}
		dst = append(dst, float32(x))
		if k < 0 {
			return dst, nil
		}
		body = body[k+1:]
	}
}

// jsonNumber reports whether e looks like a JSON number (not NaN, Inf or
// hex, which parseFloat accepts).
func jsonNumber(e []byte) bool {
	if len(e) == 0 {
		return false
	}
	c := e[0]
	if c == '-' && len(e) > 1 {
		c = e[1]
	}
	return c >= '0' && c <= '9' && bytes.IndexAny(e, "xXpP_nN") < 0
}

func decodeB64F32(s []byte, dst []float32) ([]float32, error) {
	n := base64.StdEncoding.DecodedLen(len(s))
	if cap(dst) < n/4+1 {
		dst = make([]float32, 0, n/4+1)
	}
	buf := make([]byte, n)
	m, err := base64.StdEncoding.Decode(buf, s)
	if err != nil {
		return dst, fmt.Errorf("invalid base64: %w", err)
	}
	if m == 0 || m%4 != 0 {
		return dst, fmt.Errorf("%d bytes, not a whole number of float32", m)
	}
	for j := 0; j < m; j += 4 {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(buf[j:])))
	}
	return dst, nil
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a decimal number as strconv.ParseFloat does, with the
// same result. Numbers of at most 15 significant digits with a small
// exponent (nearly all of what training data holds) take Clinger's fast
// path: the mantissa and the power of ten are both exact float64s, so one
// correctly rounded multiplication or division gives the correctly rounded
// value. Everything else (long mantissas, large exponents, NaN, Inf, hex)
// goes to strconv.
func parseFloat(b []byte) (float64, bool) {
	i := 0
	neg := false
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	var mant uint64
	digits, exp := 0, 0
	sawDigit := false
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		sawDigit = true
		if mant == 0 && b[i] == '0' {
			continue
		}
		mant = mant*10 + uint64(b[i]-'0')
		digits++
		if digits > 15 {
			return slowFloat(b)
		}
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			sawDigit = true
			exp--
			if mant == 0 && b[i] == '0' {
				continue
			}
			mant = mant*10 + uint64(b[i]-'0')
			digits++
			if digits > 15 {
				return slowFloat(b)
			}
		}
	}
	if !sawDigit {
		return slowFloat(b)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		if i == len(b) {
			return 0, false
		}
		e := 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e > 10000 {
				return slowFloat(b)
			}
			e = e*10 + int(b[i]-'0')
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(b) {
		return slowFloat(b)
	}
	f := float64(mant)
	switch {
	case mant == 0:
		f = 0
	case exp == 0:
	case exp > 0 && exp <= 22:
		f *= pow10[exp]
	case exp < 0 && exp >= -22:
		f /= pow10[-exp]
	default:
		return slowFloat(b)
	}
	if neg {
		f = -f
	}
	return f, true
}

func slowFloat(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	// The string does not outlive the call: the error (which would keep
	// it) is dropped.
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f, true // ±Inf or 0, as strconv rounds
		}
		return 0, false
	}
	return f, true
}
