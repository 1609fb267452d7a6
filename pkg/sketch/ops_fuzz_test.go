package sketch

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/normwatch/normwatch/pkg/sketch/sketchtest"
	"github.com/stretchr/testify/require"
)

// FuzzNumericOps reads its input as a program over two sketches: each step
// is an operation byte, and the adds take float64 values from the next
// eight bytes each, so the fuzzer steers both the values (any bit pattern)
// and what is done with them. After every step but single adds (whose
// values stay buffered) the sketches hold their invariants; at the end both encodings decode and the counts are exact.
// The seed corpus (testdata/fuzz/FuzzNumericOps) holds the hostile streams
// of sketchtest.
func FuzzNumericOps(f *testing.F) {
	for i, st := range sketchtest.Streams() {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		f.Add(opsProgram(r, st.Gen(r, 120)))
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		sk := [2]*Numeric{}
		for i := range sk {
			sk[i], _ = NewNumericWith(NumericOptions{BufferSize: 16 + 16*i})
		}
		var tl [2]tally
		// JSON round trips are bounded: strconv parses a subnormal
		// through its slow decimal path (tens of µs each), so a program
		// of 2,000 round trips of a sketch of 208 subnormals ran for 62 s
		// (18 s of CPU), and the fuzzing coordinator reports an input
		// over 10 s as "fuzzing process hung". Past the bound, op 7 is a
		// binary round trip. The seed subnormal-json is such a program.
		jsonTrips := 0
		value := func() (float64, bool) {
			if len(prog) < 8 {
				return 0, false
			}
			x := math.Float64frombits(binary.LittleEndian.Uint64(prog))
			prog = prog[8:]
			return x, true
		}
		for len(prog) > 0 {
			op := prog[0]
			prog = prog[1:]
			i := int(op>>7) & 1
			switch op & 0x7f % 9 {
			case 0, 1, 2: // one value
				if x, ok := value(); ok {
					addValue(sk[i], x)
					tl[i].add(x)
				}
			case 3: // a batch of up to 16
				var xs []float64
				for range int(op>>3)&15 + 1 {
					x, ok := value()
					if !ok {
						break
					}
					if sketchtest.IsMissing(x) {
						x = math.NaN()
					}
					xs = append(xs, x)
				}
				sk[i].AddBatch(xs)
				for _, x := range xs {
					tl[i].add(x)
				}
			case 4:
				sk[i].Compact()
			case 5:
				sk[i] = sk[i].Clone()
			case 6:
				sk[i] = roundTripBinary(t, sk[i])
			case 7:
				if jsonTrips++; jsonTrips > maxJSONTrips {
					sk[i] = roundTripBinary(t, sk[i])
					break
				}
				sk[i] = roundTripJSON(t, sk[i])
			case 8: // merge the other into this one, then start the other anew
				require.NoError(t, sk[i].Merge(sk[1-i]))
				tl[i].finite = append(tl[i].finite, tl[1-i].finite...)
				tl[i].missing += tl[1-i].missing
				tl[i].nan += tl[1-i].nan
				tl[i].posInf += tl[1-i].posInf
				tl[i].negInf += tl[1-i].negInf
				sk[1-i] = NewNumeric()
				tl[1-i] = tally{}
			}
			if op&0x7f%9 > 2 { // not after single adds: a check flushes the buffer
				_, err := numericFromWire(sk[i].wire())
				require.NoError(t, err, "invariants")
			}
		}
		for i := range sk {
			requireInvariants(t, sk[i])
			require.Equal(t, uint64(len(tl[i].finite)), sk[i].Count())
			require.Equal(t, tl[i].missing, sk[i].Missing())
			require.Equal(t, tl[i].nan, sk[i].NaN())
			require.Equal(t, tl[i].posInf+tl[i].negInf, sk[i].PosInf()+sk[i].NegInf())
			if len(tl[i].finite) > 0 {
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, x := range tl[i].finite {
					lo, hi = math.Min(lo, x), math.Max(hi, x)
				}
				require.Equal(t, lo, sk[i].Min())
				require.Equal(t, hi, sk[i].Max())
			}
		}
	})
}

// maxJSONTrips bounds the JSON round trips of one FuzzNumericOps input.
const maxJSONTrips = 16

// opsProgram writes a program that adds xs to both sketches in runs,
// with the other operations in between.
func opsProgram(r *rand.Rand, xs []float64) []byte {
	var b []byte
	for _, x := range xs {
		if r.IntN(8) == 0 {
			b = append(b, byte(4+r.IntN(5))|byte(r.IntN(2))<<7)
		}
		b = append(b, byte(r.IntN(2))<<7)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}
