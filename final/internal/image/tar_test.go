package image

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A running container changes its upper folder while it is committed: it
// swaps a folder and a symlink to the host's / back and forth. The tar
// must never hold a host file.
func TestWriteTarRace(t *testing.T) {
	host := t.TempDir()
	writeTestFile(t, filepath.Join(host, "secret"), "HOST SECRET", 0o600)
	upper := t.TempDir()
	writeTestFile(t, filepath.Join(upper, "a/secret"), "container", 0o644)
	must(t, os.Symlink(host, filepath.Join(upper, "b")))

	var stop atomic.Bool
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		a, b := filepath.Join(upper, "a"), filepath.Join(upper, "b")
		for !stop.Load() {
			if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { stop.Store(true); <-swapped }()

	deadline := time.Now().Add(500 * time.Millisecond)
	for n := 0; time.Now().Before(deadline); n++ {
		var buf bytes.Buffer
		if err := writeTar(&buf, upper, nil, Owners{}); err != nil {
			continue // a file that went away meanwhile: fine
		}
		tr := tar.NewReader(&buf)
		for {
			hdr, err := tr.Next()
			if err != nil {
				break
			}
			body, _ := io.ReadAll(tr)
			if strings.Contains(string(body), "HOST SECRET") {
				t.Fatalf("commit %d: tar entry %s holds the host's file", n, hdr.Name)
			}
		}
	}
}
