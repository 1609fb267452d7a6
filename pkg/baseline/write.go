package baseline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrExists is returned by Write when the model version already has a
// baseline: baselines are never overwritten nor silently replaced.
var ErrExists = errors.New("baseline already exists")

// idPrefixLen is how many hex digits of the id name a baseline file.
const idPrefixLen = 16

// Path returns where Write puts b under dir:
// dir/<model>/<model version>/<first 16 hex digits of the id>.json, the
// names written by PathName.
func Path(dir string, b *Baseline) (string, error) {
	id := b.ID()
	if id == "" {
		if err := b.Validate(); err != nil {
			return "", err
		}
		return "", errors.New("baseline has no id")
	}
	return filepath.Join(dir, PathName(b.Model), PathName(b.ModelVersion), id[:idPrefixLen]+".json"), nil
}

// Write stores b under dir and returns the file's path. The write is
// atomic: the content goes to a temporary file in the same directory, is
// synced, and is linked into place only if nothing is there, then the
// directory is synced. It fails with ErrExists if the model version already
// has a baseline file, so a store never holds two for one version.
func Write(dir string, b *Baseline) (string, error) {
	data, err := b.Encode()
	if err != nil {
		return "", err
	}
	path, err := Path(dir, b)
	if err != nil {
		return "", err
	}
	vdir := filepath.Dir(path)
	created, err := mkdirs(vdir)
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", vdir, err)
	}
	cleanup := func() {
		// Remove the directories this call created, if still empty.
		for i := len(created) - 1; i >= 0; i-- {
			_ = os.Remove(created[i])
		}
	}
	if existing, err := baselineFiles(vdir); err != nil {
		cleanup()
		return "", err
	} else if len(existing) > 0 {
		return "", fmt.Errorf("%w: %s %s has %s; remove it first, or give the new baseline another model version",
			ErrExists, b.Model, b.ModelVersion, filepath.Join(vdir, existing[0]))
	}
	if err := writeNoReplace(path, data); err != nil {
		cleanup()
		return "", err
	}
	for _, d := range append([]string{vdir}, created...) {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return path, err
		}
	}
	return path, nil
}

// writeNoReplace writes data to path through a synced temporary file,
// failing with ErrExists if path exists.
func writeNoReplace(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("writing baseline: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		_ = os.Remove(tmpName) // linked into place or failed: the name goes
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmpName, err)
	}
	if err := os.Chmod(tmpName, 0o444); err != nil {
		return fmt.Errorf("writing baseline: %w", err)
	}
	// A hard link fails if the name exists: no overwrite, even in a race
	// with another writer.
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		// File systems without hard links: check, then rename.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		if rerr := os.Rename(tmpName, path); rerr != nil {
			return fmt.Errorf("writing baseline: %w", rerr)
		}
	}
	return syncDir(dir)
}

// mkdirs creates dir and its missing parents, returning those it created,
// outermost first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for i, j := 0, len(missing)-1; i < j; i, j = i+1, j-1 {
		missing[i], missing[j] = missing[j], missing[i]
	}
	return missing, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// baselineFiles lists the baseline files of a version directory: names
// ending in .json and not starting with a dot, sorted.
func baselineFiles(vdir string) ([]string, error) {
	entries, err := os.ReadDir(vdir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !isBaselineName(e.Name()) {
			continue
		}
		// Follow links: a ConfigMap's files are links to its data.
		if st, err := os.Stat(filepath.Join(vdir, e.Name())); err == nil && st.Mode().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// maxPathName bounds a name's escaped form in the layout, under the 255
// bytes of a file name on most file systems.
const maxPathName = 200

// PathName is how a model or version name is written in the store's
// layout: ASCII letters, digits, '.', '_', '-' and '+' as they are, every
// other byte (and a leading dot, which would hide the directory) as %XX in
// upper-case hex, so that any name an event can carry has a directory of
// its own: "team/ranker" is team%2Franker. A name whose escape would be
// longer than 200 bytes is cut there and ends with ~ and 16 hex digits of
// its sha256.
func PathName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '+', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	s := b.String()
	if len(s) <= maxPathName {
		return s
	}
	sum := sha256.Sum256([]byte(name))
	cut := maxPathName - 17
	for cut > 0 && s[cut-1] == '%' || cut > 1 && s[cut-2] == '%' {
		cut-- // never cut an escape in two
	}
	return s[:cut] + "~" + hex.EncodeToString(sum[:8])
}

// unescapeName reverses PathName; ok is false for a name it cannot have
// written, or a cut one.
func unescapeName(s string) (string, bool) {
	if strings.Contains(s, "~") {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	name := b.String()
	return name, PathName(name) == s
}

func isBaselineName(name string) bool {
	return !strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".json")
}
