#!/usr/bin/env bash
# Builds a normwatch release: binaries of cmd/monitor for linux and darwin
# on amd64 and arm64, the version stamped in, each in a tar.gz with
# the LICENSE and the README, and SHA256SUMS over the archives.
#
#   scripts/release.sh VERSION [OUTDIR]
#
# VERSION is the tag the release is cut from, a semantic version with a
# leading v (v0.1.0, v1.2.0-rc.1): `go install
# github.com/normwatch/normwatch/cmd/monitor@VERSION` gives the same version.
# OUTDIR defaults to dist/VERSION and must not exist yet (a release is never
# overwritten). RELEASE_TARGETS (default "linux/amd64 linux/arm64
# darwin/amd64 darwin/arm64") chooses the targets: CI builds linux/amd64
# alone and checks it (test/release).
#
# The binaries are built with CGO_ENABLED=0: the linux ones are static (Go's
# own resolver and no libc); the darwin ones link only macOS's own libSystem
# and frameworks, as every Go binary for macOS does. They are built with
# -trimpath so that they hold no path of this machine, and with the commit
# they were built from in their build info (vcs.revision, which `monitor
# version` and normwatch_build_info show; the go command records it in a
# clone, not in a git worktree, whose .git is a file). The archives are
# reproducible: fixed file order, owner and modification time (the commit's).
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-}
if [ -z "$version" ] || [ $# -gt 2 ]; then
  echo "usage: scripts/release.sh VERSION [OUTDIR]   (VERSION like v0.1.0)" >&2
  exit 2
fi
if ! [[ $version =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "release: version $version is not a semantic version with a leading v (v0.1.0, v1.2.0-rc.1)" >&2
  exit 2
fi
out=${2:-dist/$version}
if [ -e "$out" ]; then
  echo "release: $out exists; a release is never overwritten" >&2
  exit 1
fi
targets=${RELEASE_TARGETS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64}

# The modification time of every archived file: the commit's, or the epoch
# outside a git checkout.
mtime=$(git log -1 --format=%cI 2>/dev/null || echo 1970-01-01T00:00:00Z)

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in $targets; do
  goos=${target%/*}
  goarch=${target#*/}
  case "$goos/$goarch" in
    linux/amd64 | linux/arm64 | darwin/amd64 | darwin/arm64) ;;
    *) echo "release: target $target is not one of linux/amd64 linux/arm64 darwin/amd64 darwin/arm64" >&2; exit 2 ;;
  esac
  name=normwatch-${version#v}.$goos-$goarch
  mkdir -p "$work/$name"
  echo "release: building $name"
  CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath -buildvcs=true \
    -ldflags "-s -w -X main.version=$version" \
    -o "$work/$name/monitor" ./cmd/monitor
  cp LICENSE README.md "$work/$name/"
  tar --sort=name --mtime="$mtime" --owner=0 --group=0 --numeric-owner \
    -C "$work" -cf - "$name" | gzip -n -9 > "$out/$name.tar.gz"
done

(
  cd "$out"
  if command -v sha256sum >/dev/null; then
    sha256sum -- *.tar.gz > SHA256SUMS
  else
    shasum -a 256 -- *.tar.gz > SHA256SUMS
  fi
)
echo "release: $out"
cat "$out/SHA256SUMS"
