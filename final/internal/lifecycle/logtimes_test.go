package lifecycle

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"skiff/internal/container"
)

// TestLogTimes: a line's time is the first one recorded at or past its
// end; past the last record, the log's last change; a torn or
// out-of-order record is skipped.
func TestLogTimes(t *testing.T) {
	c := &container.Container{Dir: t.TempDir()}
	os.WriteFile(c.Path("log"), []byte("one\ntwo\nthree\n"), 0o600)
	mtime := time.Unix(3000, 0)
	os.Chtimes(c.Path("log"), mtime, mtime)
	os.WriteFile(filepath.Join(c.Dir, logTimesFile), []byte("4 1000\n2 1500\n8 2000\n12 2"), 0o600)
	lt := ReadLogTimes(c)
	for end, want := range map[int64]int64{4: 1000, 8: 2000, 14: 3000e9} {
		if got := lt.At(end); got.UnixNano() != want {
			t.Errorf("At(%d) = %d, want %d", end, got.UnixNano(), want)
		}
	}
}
