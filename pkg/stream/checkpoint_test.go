package stream

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFileCheckpointsRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		topic     string
		partition int
		data      []byte
	}{
		{name: "plain", topic: "events", partition: 0, data: []byte("state")},
		{name: "dotted", topic: "normwatch.events", partition: 7, data: []byte{0, 1, 2}},
		{name: "empty payload", topic: "t", partition: 1, data: []byte{}},
		{name: "path escape", topic: "../../etc/passwd", partition: 2, data: []byte("x")},
		{name: "slash and NUL", topic: "a/b\x00c", partition: 3, data: []byte("y")},
		{name: "dot", topic: ".", partition: 0, data: []byte("dot")},
		{name: "invalid UTF-8", topic: "\xff\xfe", partition: 0, data: []byte("z")},
		{name: "10 kB name", topic: strings.Repeat("long.", 2000), partition: 4, data: bytes.Repeat([]byte("w"), 1<<16)},
	}
	s, err := NewFileCheckpoints(t.TempDir(), "group/../x")
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Load(tt.topic, tt.partition)
			require.NoError(t, err)
			require.Nil(t, got, "no checkpoint yet")

			require.NoError(t, s.Save(tt.topic, tt.partition, []byte("older")))
			require.NoError(t, s.Save(tt.topic, tt.partition, tt.data))
			got, err = s.Load(tt.topic, tt.partition)
			require.NoError(t, err)
			require.Equal(t, tt.data, got)

			path := s.Path(tt.topic, tt.partition)
			require.Equal(t, s.Dir(), filepath.Dir(path), "the file stays in the group's directory")
			require.LessOrEqual(t, len(filepath.Base(path)), 255)
		})
	}
	entries, err := os.ReadDir(s.Dir())
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Name(), tmpMarker, "no temporary file left")
	}
	require.Len(t, entries, 2*len(tests), "one current and one previous file per partition")
}

func TestFileCheckpointsGroupsApart(t *testing.T) {
	dir := t.TempDir()
	a, err := NewFileCheckpoints(dir, "a")
	require.NoError(t, err)
	b, err := NewFileCheckpoints(dir, "b")
	require.NoError(t, err)
	require.NoError(t, a.Save("t", 0, []byte("of a")))
	got, err := b.Load("t", 0)
	require.NoError(t, err)
	require.Nil(t, got)
}

func TestFileCheckpointsFallback(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{name: "truncated", damage: func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, fi.Size()/2))
		}},
		{name: "bit flip", damage: func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x10
			require.NoError(t, os.WriteFile(path, b, 0o600))
		}},
		{name: "empty", damage: func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, nil, 0o600))
		}},
		{name: "another partition's file", damage: func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, encodeCheckpoint("t", 9, []byte("other")), 0o600))
		}},
		{name: "missing after a crash between renames", damage: func(t *testing.T, path string) {
			require.NoError(t, os.Remove(path))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewFileCheckpoints(t.TempDir(), "g")
			require.NoError(t, err)
			require.NoError(t, s.Save("t", 1, []byte("first")))
			require.NoError(t, s.Save("t", 1, []byte("second")))
			tt.damage(t, s.Path("t", 1))
			got, err := s.Load("t", 1)
			require.NoError(t, err)
			require.Equal(t, []byte("first"), got)

			// The next Save makes a good current file again, and the good
			// previous copy survives it: the damaged file was moved aside.
			require.NoError(t, s.Save("t", 1, []byte("third")))
			got, err = s.Load("t", 1)
			require.NoError(t, err)
			require.Equal(t, []byte("third"), got)
			prev, err := readCheckpoint(s.Path("t", 1)+prevSuffix, "t", 1)
			require.NoError(t, err)
			require.Equal(t, []byte("first"), prev)
		})
	}
}

func TestFileCheckpointsNoGoodOne(t *testing.T) {
	s, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	require.NoError(t, s.Save("t", 0, []byte("first")))
	require.NoError(t, s.Save("t", 0, []byte("second")))
	cur := s.Path("t", 0)
	for _, p := range []string{cur, cur + prevSuffix} {
		require.NoError(t, os.WriteFile(p, []byte("NWCK garbage that is long enough to look like a header...."), 0o600))
	}
	_, err = s.Load("t", 0)
	require.ErrorIs(t, err, ErrCorruptCheckpoint)
	require.Contains(t, err.Error(), cur)
	require.Contains(t, err.Error(), "move")
	require.Contains(t, err.Error(), "committed offset")

	// Only a corrupt previous file, no current one: the same.
	require.NoError(t, os.Remove(cur))
	_, err = s.Load("t", 0)
	require.ErrorIs(t, err, ErrCorruptCheckpoint)
	require.Contains(t, err.Error(), cur+prevSuffix)
}

func TestFileCheckpointsConcurrentPartitions(t *testing.T) {
	s, err := NewFileCheckpoints(t.TempDir(), "g")
	require.NoError(t, err)
	const partitions, saves = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, partitions)
	for p := range partitions {
		wg.Go(func() {
			for i := range saves {
				if err := s.Save("t", p, []byte(fmt.Sprintf("p%d-%d", p, i))); err != nil {
					errs <- err
					return
				}
				got, err := s.Load("t", p)
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprintf("p%d-%d", p, i); string(got) != want {
					errs <- fmt.Errorf("partition %d: got %q, want %q", p, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func TestFileCheckpointsRemovesStaleTemp(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFileCheckpoints(dir, "g")
	require.NoError(t, err)
	stale := filepath.Join(s.Dir(), ".t.0.ckpt"+tmpMarker+"123")
	require.NoError(t, os.WriteFile(stale, []byte("half"), 0o600))
	_, err = NewFileCheckpoints(dir, "g")
	require.NoError(t, err)
	_, err = os.Stat(stale)
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestSafeName(t *testing.T) {
	long := strings.Repeat("a", 1000)
	names := []string{"a", "a.b", "a%2Eb", "a/b", "../x", long, long + "b", "\x00", "A", "~"}
	seen := map[string]string{}
	for _, n := range names {
		s := safeName(n)
		require.LessOrEqual(t, len(s), maxFileNameBytes, n)
		require.NotContains(t, s, "/")
		require.NotContains(t, s, ".")
		if other, ok := seen[s]; ok {
			t.Fatalf("%q and %q both encode to %q", n, other, s)
		}
		seen[s] = n
	}
}
