package baseline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecode feeds the baseline loader mutated files: it must never panic,
// and whatever it accepts must encode back to a file it accepts with the
// same id.
func FuzzDecode(f *testing.F) {
	dir := f.TempDir()
	for i, b := range []*Baseline{smallBaseline(f, "ranker", "v4", 0, 1), pyarrowBaseline(f)} {
		path, err := Write(filepath.Join(dir, string(rune('a'+i))), b)
		require.NoError(f, err)
		data, err := os.ReadFile(path)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte(`{"format": "normwatch.baseline/v1"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data, "fuzz.json")
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		again, err := b.Encode()
		require.NoError(t, err)
		b2, err := Decode(again, "again.json")
		require.NoError(t, err)
		require.Equal(t, b.ID(), b2.ID())
	})
}

func pyarrowBaseline(t testing.TB) *Baseline {
	opts := testOpts()
	opts.InferNormalization = true
	b, _ := build(t, "testdata/pyarrow.parquet", opts)
	return b
}
