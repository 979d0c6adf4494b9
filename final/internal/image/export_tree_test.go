package image

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteTreeKeepOthers: an export of a container in a user namespace
// maps its range's IDs back to the container's and keeps the others (the
// image's files, owned by the host's root) as they are.
func TestWriteTreeKeepOthers(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "image"), "the image's", 0o644)
	writeTestFile(t, filepath.Join(dir, "mine"), "the container's", 0o644)
	must(t, os.Lchown(filepath.Join(dir, "mine"), 100005, 200007))
	var buf bytes.Buffer
	must(t, WriteTree(&buf, dir, Owners{UID: 100000, GID: 200000, Size: 65536, KeepOthers: true}))
	owners := map[string][2]int{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		owners[hdr.Name] = [2]int{hdr.Uid, hdr.Gid}
	}
	if owners["image"] != [2]int{0, 0} || owners["mine"] != [2]int{5, 7} {
		t.Errorf("owners in the tar: %v, want image 0:0 and mine 5:7", owners)
	}
	if uid, gid := (Owners{UID: 100000, GID: 200000, Size: 65536}).toContainer(0, 0); uid != nobody || gid != nobody {
		t.Errorf("without KeepOthers, toContainer(0, 0) = %d, %d: want nobody, as commit maps", uid, gid)
	}
}
