package subid

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestAllocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(path, []byte("alice:100000:65536\n# a comment\nbob:300000:1000\nbroken line"), 0o644)
	r, err := allocate(path, "skiff", Size)
	if err != nil || r != (Range{301000, Size}) {
		t.Fatalf("allocate: %v %v, want the range after every other", r, err)
	}
	again, err := allocate(path, "skiff", Size)
	if err != nil || again != r {
		t.Errorf("a second allocate: %v %v, want %v", again, err, r)
	}
	data, _ := os.ReadFile(path)
	if want := "alice:100000:65536\n# a comment\nbob:300000:1000\nbroken line\nskiff:301000:65536\n"; string(data) != want {
		t.Errorf("the file:\n%s\nwant:\n%s", data, want)
	}
}

// TestAllocateAtOnce: skiff processes that allocate at once get one
// range, written once.
func TestAllocateAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subgid")
	var wg sync.WaitGroup
	got := make([]Range, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = allocate(path, "skiff", Size)
		}()
	}
	wg.Wait()
	for _, r := range got {
		if r != (Range{first, Size}) {
			t.Errorf("got %v, want %v", r, Range{first, Size})
		}
	}
	if data, _ := os.ReadFile(path); string(data) != "skiff:100000:65536\n" {
		t.Errorf("the file: %q", data)
	}
}
