// Package release tests scripts/release.sh: it builds the linux/amd64
// release the way a release is cut and checks what a user downloads, a
// static binary with the version stamped in, the LICENSE beside it, and
// checksums that match.
package release
