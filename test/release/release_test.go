package release

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// raceEnabled is set under -race (race_test.go).
var raceEnabled bool

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return r
}

// release runs scripts/release.sh with args for linux/amd64 alone and
// returns its combined output and exit code.
func release(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(root(t), "scripts", "release.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "RELEASE_TARGETS=linux/amd64")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err, "%s", out)
	return string(out), 0
}

// The linux/amd64 release as scripts/release.sh cuts it: an archive named
// for the version and target holding the binary, the LICENSE and the
// README; SHA256SUMS that sha256sum -c accepts; a static binary (no
// interpreter, no shared library) built with CGO_ENABLED=0 and -trimpath
// that says its version; a second cut gives the same archive. About 6 s
// a cut with a warm build cache; the first build of the static, trimmed
// standard library takes a minute or two.
func TestReleaseLinuxAMD64(t *testing.T) {
	if testing.Short() {
		t.Skip("release build: skipped with -short")
	}
	if raceEnabled {
		t.Skip("release build: runs in the plain pass of scripts/test.sh, not again under -race")
	}
	const version = "v0.0.0-test.1"
	out := filepath.Join(t.TempDir(), "dist")
	log, code := release(t, version, out)
	require.Zero(t, code, log)

	name := "normwatch-0.0.0-test.1.linux-amd64"
	archive := filepath.Join(out, name+".tar.gz")
	data, err := os.ReadFile(archive)
	require.NoError(t, err, log)
	sum := sha256.Sum256(data)
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(sum[:])+"  "+name+".tar.gz\n", string(sums))
	if _, err := exec.LookPath("sha256sum"); err == nil {
		check := exec.Command("sha256sum", "-c", "SHA256SUMS")
		check.Dir = out
		b, err := check.CombinedOutput()
		require.NoError(t, err, "sha256sum -c: %s", b)
	}

	files := untar(t, archive, t.TempDir())
	require.ElementsMatch(t, []string{name + "/LICENSE", name + "/README.md", name + "/monitor"}, keys(files))
	license, err := os.ReadFile(files[name+"/LICENSE"])
	require.NoError(t, err)
	require.Contains(t, string(license), "Apache License\n                           Version 2.0, January 2004")
	require.Contains(t, string(license), "END OF TERMS AND CONDITIONS")

	bin := files[name+"/monitor"]
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	require.Equal(t, elf.EM_X86_64, f.Machine)
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no dynamic loader")
		require.NotEqual(t, elf.PT_DYNAMIC, p.Type, "a static binary has no dynamic section")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs)

	bi, err := buildinfo.ReadFile(bin)
	require.NoError(t, err)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	require.Equal(t, "0", settings["CGO_ENABLED"])
	require.Equal(t, "true", settings["-trimpath"])
	require.Equal(t, "github.com/normwatch/normwatch/cmd/monitor", bi.Path)

	got, err := exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", got)
	require.True(t, strings.HasPrefix(string(got), "normwatch "+version+" (revision "), "monitor version: %s", got)
	require.Contains(t, string(got), bi.GoVersion)
	// The go command stamps the commit in a clone (CI's); it cannot in a
	// git worktree, where the revision is "unknown".
	if rev := settings["vcs.revision"]; rev != "" {
		require.Contains(t, string(got), "(revision "+rev)
		head, err := exec.Command("git", "-C", root(t), "rev-parse", "HEAD").Output()
		require.NoError(t, err)
		require.Equal(t, strings.TrimSpace(string(head)), rev)
	} else {
		t.Logf("no vcs.revision in the build info (a git worktree?): %s", got)
	}

	// Cut again, the same archive: the release is reproducible.
	again := filepath.Join(t.TempDir(), "dist")
	log, code = release(t, version, again)
	require.Zero(t, code, log)
	sums2, err := os.ReadFile(filepath.Join(again, "SHA256SUMS"))
	require.NoError(t, err)
	require.Equal(t, string(sums), string(sums2), "two builds of one commit give the same archive")

	// A release is never overwritten.
	log, code = release(t, version, out)
	require.Equal(t, 1, code, log)
	require.Contains(t, log, "never overwritten")
}

func TestReleaseRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no version", args: nil, want: "usage: scripts/release.sh VERSION"},
		{name: "no leading v", args: []string{"1.2.3"}, want: "not a semantic version"},
		{name: "not semver", args: []string{"v1.2"}, want: "not a semantic version"},
		{name: "too many arguments", args: []string{"v1.2.3", "a", "b"}, want: "usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, code := release(t, tc.args...)
			require.Equal(t, 2, code, log)
			require.Contains(t, log, tc.want)
		})
	}
	t.Run("unknown target", func(t *testing.T) {
		cmd := exec.Command("bash", filepath.Join(root(t), "scripts", "release.sh"), "v1.0.0", filepath.Join(t.TempDir(), "d"))
		cmd.Env = append(os.Environ(), "RELEASE_TARGETS=windows/386")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", out)
		require.Equal(t, 2, ee.ExitCode())
		require.Contains(t, string(out), "target windows/386 is not one of")
	})
}

// untar extracts the regular files of a tar.gz into dir, by name.
func untar(t *testing.T, archive, dir string) map[string]string {
	t.Helper()
	f, err := os.Open(archive)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.Zero(t, h.Uid, "%s is owned by root in the archive", h.Name)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		require.False(t, strings.Contains(h.Name, ".."), h.Name)
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
		require.NoError(t, err)
		_, err = io.Copy(w, tr)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		out[h.Name] = p
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
