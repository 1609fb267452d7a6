package stream

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireSameFloat checks that parseNumber converts text as strconv does,
// to the bit (the sign of zero included).
func requireSameFloat(t *testing.T, text string) {
	t.Helper()
	want, err := strconv.ParseFloat(text, 64)
	got, ok := parseNumber([]byte(text))
	if err != nil {
		// Out of range: the decoder refuses the infinity either way.
		require.True(t, !ok || math.IsInf(got, 0), "%s: strconv fails (%v), parseNumber gives %v", text, err, got)
		return
	}
	require.True(t, ok, "%s: parseNumber refused it", text)
	require.Equal(t, math.Float64bits(want), math.Float64bits(got), "%s: strconv %v, parseNumber %v", text, want, got)
}

func TestParseNumberRoundsAsStrconv(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"zero", "0"},
		{"negative zero", "-0"},
		{"negative zero fraction", "-0.000"},
		{"small integer", "13"},
		{"2^53", "9007199254740992"},
		{"2^53+1 ties to even below", "9007199254740993"},
		{"2^53+3 ties to even above", "9007199254740995"},
		{"2^64-1", "18446744073709551615"},
		{"19 digits", "1234567890123456789"},
		{"19 digits times 10^19", "1234567890123456789e19"},
		{"20 digits", "12345678901234567890"},
		{"half below 2^53 ties to even below", "4503599627370496.5"},
		{"half below 2^53 ties to even above", "4503599627370497.5"},
		{"shortest of 0.1+0.2", "0.30000000000000004"},
		{"17 digits below one", "0.85123456789012345"},
		{"17 digits with a large exponent", "1.2345678901234567e300"},
		{"17 digits with a small exponent", "1.2345678901234567e-300"},
		{"10^-19 scale", "1.234567890123456789e-1"},
		{"leading zeros of the fraction", "0.00000000000000000012345678901234567"},
		{"max float64", "1.7976931348623157e308"},
		{"over max float64", "1.8e308"},
		{"smallest subnormal", "5e-324"},
		{"below the smallest subnormal", "2e-324"},
		{"1e23", "1e23"},
		{"8.988465674311579e307", "8.988465674311579e307"},
		{"exponent with sign", "123456789012345678E+2"},
		{"float32 text", "-0.1234567"},
		{"income", "52100.123456789015"},
		{"latency", "183.35716419932542"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireSameFloat(t, tt.text) })
	}
}

// TestParseNumberRandom compares with strconv on the texts producers
// write (shortest float64 and float32 texts, fixed precisions) and on
// random decimals of 1 to 21 digits with exponents around the fast paths'
// edges.
func TestParseNumberRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 50_000 {
		x := r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		requireSameFloat(t, strconv.FormatFloat(x, 'g', -1, 64))
		requireSameFloat(t, strconv.FormatFloat(float64(float32(x)), 'g', -1, 32))
		requireSameFloat(t, strconv.FormatFloat(x, 'g', 1+r.IntN(19), 64))
		if y := math.Float64frombits(r.Uint64()); !math.IsNaN(y) && !math.IsInf(y, 0) {
			requireSameFloat(t, strconv.FormatFloat(y, 'g', -1, 64))
		}
		var sb strings.Builder
		if r.IntN(2) == 0 {
			sb.WriteByte('-')
		}
		n := 1 + r.IntN(21)
		point := r.IntN(n + 1)
		for k := range n {
			if k == point && k > 0 {
				sb.WriteByte('.')
			}
			d := r.IntN(10)
			if k == 0 && point != 1 {
				d = 1 + r.IntN(9)
			}
			sb.WriteByte(byte('0' + d))
		}
		if r.IntN(3) == 0 {
			sb.WriteString("e" + strconv.Itoa(r.IntN(60)-30))
		}
		requireSameFloat(t, sb.String())
	}
}

// FuzzParseNumber: any number text converts as strconv converts it.
//
//	go test ./pkg/stream -run '^$' -fuzz FuzzParseNumber -fuzztime 60s
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"0", "-0.5", "9007199254740993", "0.30000000000000004", "1.2345678901234567e-300", "4503599627370496.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !validNumber(text) {
			return
		}
		requireSameFloat(t, text)
	})
}

// validNumber reports whether text is one JSON number, by the scanner that
// only reads it.
func validNumber(text string) bool {
	if text == "" || strings.ContainsAny(text[:1], " \t\n\r") {
		return false // the scanner skips leading white space; strconv does not
	}
	s := fastScanner{b: []byte(text)}
	_, ok := s.number()
	return ok && s.i == len(text)
}

// TestStrScansAsByteByByte checks the word-at-a-time string scan against
// the rule it speeds up: the string ends at the first quote, and a
// backslash or control character before it gives up.
func TestStrScansAsByteByByte(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("ab+/=09\"\\\x00\x1f\x20\x7f\x80\xff")
	for range 100_000 {
		body := make([]byte, r.IntN(40))
		for i := range body {
			if r.IntN(8) == 0 {
				body[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				body[i] = alphabet[r.IntN(7)]
			}
		}
		msg := append([]byte{'"'}, body...)
		var want []byte
		wantOK := false
		for i, c := range body {
			if c == '"' {
				want, wantOK = body[:i], true
				break
			}
			if c == '\\' || c < 0x20 {
				break
			}
		}
		s := fastScanner{b: msg}
		got, ok := s.str()
		require.Equal(t, wantOK, ok, "%q", msg)
		if ok {
			require.Equal(t, want, got, "%q", msg)
			require.Equal(t, len(want)+2, s.i, "%q", msg)
		}
	}
}

// TestDigitsWordAtATime checks the eight-bytes-a-step digit reading
// against a byte loop, for every length of digits and what follows them.
func TestDigitsWordAtATime(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 100_000 {
		var buf [8]byte
		for i := range buf {
			if r.IntN(6) == 0 {
				buf[i] = byte(r.IntN(256))
			} else {
				buf[i] = byte('0' + r.IntN(10))
			}
		}
		want := 0
		for want < 8 && buf[want] >= '0' && buf[want] <= '9' {
			want++
		}
		w := binary.LittleEndian.Uint64(buf[:])
		require.Equal(t, want, leadingDigits(w), "%q", buf)
		if want > 0 {
			v, err := strconv.ParseUint(string(buf[:want]), 10, 64)
			require.NoError(t, err)
			require.Equal(t, v, digitsValue(w, want), "%q", buf)
		}
	}
}

// BenchmarkParseNumber: the numbers of a realistic event, an embedding's
// float32 texts (7 digits) and features' shortest float64 texts (about 17).
func BenchmarkParseNumber(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, kind := range []string{"float32", "float64"} {
		texts := make([][]byte, 1024)
		for i := range texts {
			x := r.NormFloat64() / 8
			if kind == "float32" {
				texts[i] = strconv.AppendFloat(nil, float64(float32(x)), 'g', 7, 32)
			} else {
				texts[i] = strconv.AppendFloat(nil, x*40, 'g', -1, 64)
			}
		}
		b.Run(kind, func(b *testing.B) {
			var sum float64
			i := 0
			for b.Loop() {
				f, _ := parseNumber(texts[i&1023])
				sum += f
				i++
			}
			_ = sum
		})
	}
}
