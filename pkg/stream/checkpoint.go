package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The checkpoint file format, version 1, all integers big-endian:
//
//	magic "NWCK" | version uint16 | reserved uint16 | partition int32 |
//	topic length uint16 | topic | payload length uint64 | payload |
//	sha256 of everything before it
//
// The topic and partition are inside the file as well as in its name, so a
// file copied under another partition's name is refused rather than
// restored into the wrong partition.
const (
	checkpointMagic   = "NWCK"
	checkpointVersion = 1
	checkpointExt     = ".ckpt"
	prevSuffix        = ".prev"
	// corruptSuffix marks a damaged checkpoint moved aside, kept for a look.
	corruptSuffix = ".corrupt"
	tmpMarker     = ".tmp-"

	// maxCheckpointBytes bounds what Load reads, so that a damaged length
	// field cannot ask for a huge allocation.
	maxCheckpointBytes = 4 << 30
	// maxFileNameBytes keeps encoded names under the 255 bytes most file
	// systems allow, with room for the partition and suffixes.
	maxFileNameBytes = 160
)

// FileCheckpoints is a CheckpointStore in a local directory: one file per
// (topic, partition) under a subdirectory per consumer group, so that two
// groups sharing the directory do not read each other's state.
//
// Save writes a temporary file in the same directory, syncs it, keeps the
// current file as <name>.prev, renames the new one over it and syncs the
// directory: a crash at any point leaves the current or the previous
// checkpoint whole. Load verifies the checksum and falls back to the
// previous file when the current one fails it.
//
// Save and Load of different partitions may run concurrently; one partition
// is used by one goroutine at a time, as the consumer does.
type FileCheckpoints struct {
	dir string

	// Logger, if set before first use, is told when Load falls back to a
	// previous checkpoint.
	Logger *slog.Logger
}

var _ CheckpointStore = (*FileCheckpoints)(nil)

// NewFileCheckpoints returns the store of groupID's checkpoints under dir,
// creating the directories. It removes temporary files a crash left behind.
func NewFileCheckpoints(dir, groupID string) (*FileCheckpoints, error) {
	if dir == "" {
		return nil, errors.New("stream: checkpoint directory must not be empty")
	}
	if groupID == "" {
		return nil, errors.New("stream: checkpoint group id must not be empty")
	}
	gdir := filepath.Join(dir, "group-"+safeName(groupID))
	if err := os.MkdirAll(gdir, 0o750); err != nil {
		return nil, fmt.Errorf("creating checkpoint directory: %w", err)
	}
	entries, err := os.ReadDir(gdir)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint directory: %w", err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), tmpMarker) {
			_ = os.Remove(filepath.Join(gdir, e.Name()))
		}
	}
	return &FileCheckpoints{dir: gdir}, nil
}

// Dir returns the directory holding the group's checkpoint files.
func (s *FileCheckpoints) Dir() string { return s.dir }

// Path returns the file of topic/partition's current checkpoint.
func (s *FileCheckpoints) Path(topic string, partition int) string {
	return filepath.Join(s.dir, safeName(topic)+"."+strconv.Itoa(partition)+checkpointExt)
}

// Load implements CheckpointStore.
func (s *FileCheckpoints) Load(topic string, partition int) ([]byte, error) {
	if err := checkKey(topic, partition); err != nil {
		return nil, err
	}
	cur := s.Path(topic, partition)
	prev := cur + prevSuffix

	data, curErr := readCheckpoint(cur, topic, partition)
	if curErr == nil {
		return data, nil
	}
	var bad *badFileError
	if !errors.As(curErr, &bad) && !errors.Is(curErr, fs.ErrNotExist) {
		return nil, curErr
	}
	data, prevErr := readCheckpoint(prev, topic, partition)
	switch {
	case prevErr == nil:
		// A missing current file beside a previous one is a crash between
		// Save's two renames: nothing was committed past the previous
		// checkpoint, so it is the right one, not a fallback to report.
		if !errors.Is(curErr, fs.ErrNotExist) {
			// Move the damaged file aside, or the next Save would rename
			// it over the one good copy left.
			aside := cur + corruptSuffix
			if err := os.Rename(cur, aside); err != nil {
				return nil, fmt.Errorf("moving the damaged checkpoint aside: %w", err)
			}
			if s.Logger != nil {
				s.Logger.Warn("checkpoint failed its check; using the previous one",
					"file", cur, "err", curErr, "previous", prev, "moved_to", aside)
			}
		}
		return data, nil
	case errors.Is(curErr, fs.ErrNotExist) && errors.Is(prevErr, fs.ErrNotExist):
		return nil, nil
	case !errors.As(prevErr, &bad) && !errors.Is(prevErr, fs.ErrNotExist):
		return nil, prevErr
	}
	why := func(path string, err error) string {
		if errors.Is(err, fs.ErrNotExist) {
			return path + ": missing"
		}
		return err.Error()
	}
	return nil, fmt.Errorf("%w of %s/%d: %s; %s; no good checkpoint remains: "+
		"move %s and %s away to start the partition from the group's committed offset, or restore them from a backup",
		ErrCorruptCheckpoint, topic, partition, why(cur, curErr), why(prev, prevErr), cur, prev)
}

// badFileError is a checkpoint file that fails a check.
type badFileError struct {
	path, reason string
}

func (e *badFileError) Error() string { return e.path + ": " + e.reason }

// Save implements CheckpointStore.
func (s *FileCheckpoints) Save(topic string, partition int, data []byte) error {
	if err := checkKey(topic, partition); err != nil {
		return err
	}
	if len(data) > maxCheckpointBytes {
		return fmt.Errorf("saving checkpoint of %s/%d: %d bytes over the limit of %d", topic, partition, len(data), maxCheckpointBytes)
	}
	cur := s.Path(topic, partition)
	f, err := os.CreateTemp(s.dir, "."+filepath.Base(cur)+tmpMarker+"*")
	if err != nil {
		return fmt.Errorf("saving checkpoint of %s/%d: %w", topic, partition, err)
	}
	tmp := f.Name()
	fail := func(what string, err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("saving checkpoint of %s/%d: %s %s: %w", topic, partition, what, tmp, err)
	}
	if _, err := f.Write(encodeCheckpoint(topic, partition, data)); err != nil {
		return fail("writing", err)
	}
	if err := f.Sync(); err != nil {
		return fail("syncing", err)
	}
	if err := f.Close(); err != nil {
		return fail("closing", err)
	}
	if err := os.Rename(cur, cur+prevSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		_ = os.Remove(tmp)
		return fmt.Errorf("saving checkpoint of %s/%d: keeping the previous one: %w", topic, partition, err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("saving checkpoint of %s/%d: %w", topic, partition, err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("saving checkpoint of %s/%d: syncing directory: %w", topic, partition, err)
	}
	return nil
}

func checkKey(topic string, partition int) error {
	if topic == "" {
		return errors.New("stream: checkpoint topic must not be empty")
	}
	if partition < 0 || partition > 1<<31-1 {
		return fmt.Errorf("stream: checkpoint partition %d out of range", partition)
	}
	return nil
}

func encodeCheckpoint(topic string, partition int, data []byte) []byte {
	tb := topic
	if len(tb) > 0xffff {
		tb = tb[:0xffff] // not a Kafka topic; the file name still tells them apart
	}
	n := 4 + 2 + 2 + 4 + 2 + len(tb) + 8 + len(data) + sha256.Size
	b := make([]byte, 0, n)
	b = append(b, checkpointMagic...)
	b = binary.BigEndian.AppendUint16(b, checkpointVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(partition))
	b = binary.BigEndian.AppendUint16(b, uint16(len(tb)))
	b = append(b, tb...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
	b = append(b, data...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// readCheckpoint returns the payload of path, an error wrapping
// fs.ErrNotExist when there is no file, or a *badFileError when its content
// fails a check.
func readCheckpoint(path, topic string, partition int) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &badFileError{path, "not a regular file"}
	}
	if fi.Size() > maxCheckpointBytes+1<<20 {
		return nil, &badFileError{path, fmt.Sprintf("%d bytes, over the limit", fi.Size())}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	corrupt := func(format string, args ...any) error {
		return &badFileError{path, fmt.Sprintf(format, args...)}
	}
	const fixed = 4 + 2 + 2 + 4 + 2
	if len(b) < fixed+8+sha256.Size {
		return nil, corrupt("truncated at %d bytes", len(b))
	}
	if string(b[:4]) != checkpointMagic {
		return nil, corrupt("not a normwatch checkpoint (magic %q)", b[:4])
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, corrupt("checksum mismatch (truncated or damaged)")
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != checkpointVersion {
		return nil, corrupt("format version %d, this build reads %d", v, checkpointVersion)
	}
	p := int32(binary.BigEndian.Uint32(b[8:]))
	tl := int(binary.BigEndian.Uint16(b[12:]))
	if fixed+tl+8 > len(body) {
		return nil, corrupt("topic length %d past the end", tl)
	}
	t := string(b[fixed : fixed+tl])
	wantT := topic
	if len(wantT) > 0xffff {
		wantT = wantT[:0xffff]
	}
	if t != wantT || int(p) != partition {
		return nil, corrupt("holds partition %q/%d, not %q/%d", t, p, topic, partition)
	}
	off := fixed + tl
	n := binary.BigEndian.Uint64(b[off:])
	off += 8
	if n != uint64(len(body)-off) {
		return nil, corrupt("payload length %d, file holds %d", n, len(body)-off)
	}
	return body[off:], nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// safeName encodes s into a file name of at most maxFileNameBytes made of
// [A-Za-z0-9_-] and %XX escapes, so that no topic or group name, however
// hostile ("../x", "a/b", NUL, 10 kB), can leave the directory or collide
// with another. A name too long for that keeps an encoded prefix and adds
// the sha256 of the whole after a "~", which escapes never produce.
func safeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	enc := b.String()
	if len(enc) <= maxFileNameBytes {
		return enc
	}
	sum := sha256.Sum256([]byte(s))
	prefix := enc[:maxFileNameBytes-65]
	if i := strings.LastIndexByte(prefix, '%'); i >= len(prefix)-2 {
		prefix = prefix[:i] // do not cut an escape in half
	}
	return fmt.Sprintf("%s~%x", prefix, sum)
}
