package image

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// bigTar is a layer with a 2 MB file, like busybox's.
func bigTar(t *testing.T, tag string) []byte {
	return makeTar(t, tarFile{Name: "bin/busybox", Body: strings.Repeat(tag, 2<<20/len(tag)), Mode: 0o755})
}

func importTar(t *testing.T, s *Store, data []byte, name string) *Image {
	t.Helper()
	img, err := s.ImportTar(bytes.NewReader(data), name)
	must(t, err)
	return img
}

func prune(t *testing.T, s *Store, inUse func(string) bool, want ...string) {
	t.Helper()
	removed, err := s.PruneLayers(inUse)
	must(t, err)
	slices.Sort(removed)
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("PruneLayers removed %v, want %v", removed, want)
	}
}

// layers lists the folders in s's layers/.
func layers(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.layersDir())
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Re-tagging a name leaves the old image's layer, which PruneLayers
// deletes; layers that an image lists or inUse claims stay.
func TestPruneLayers(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	a := importTar(t, s, bigTar(t, "A"), "dup")
	b := importTar(t, s, makeTar(t, tarFile{Name: "small", Body: "B"}), "dup")
	if got := layers(t, s); !slices.Contains(got, a.Layers[0]) {
		t.Fatalf("layers/ holds %v, want the first dup's layer still there", got)
	}
	prune(t, s, nil, a.Layers[0])
	checkMissing(t, s.layerDir(a.Layers[0]))
	stat(t, s.layerDir(b.Layers[0]))
	if got, err := s.Get("dup"); err != nil || got.ID != b.ID {
		t.Errorf("Get(dup) = %v, %v; want the second import", got, err)
	}
	prune(t, s, nil) // nothing more

	// Shared by two images: stays until both are gone.
	shared := bigTar(t, "S")
	one := importTar(t, s, shared, "one")
	importTar(t, s, shared, "two")
	must(t, s.Remove("one", nil))
	prune(t, s, nil)
	stat(t, s.layerDir(one.Layers[0]))

	// Claimed by inUse (a container's): stays until it is not.
	// Remove with the same inUse leaves it too.
	claimed := func(id string) bool { return id == one.Layers[0] }
	must(t, s.Remove("two", claimed))
	prune(t, s, claimed)
	stat(t, s.layerDir(one.Layers[0]))
	prune(t, s, nil, one.Layers[0])
	if got := layers(t, s); !slices.Equal(got, b.Layers) {
		t.Errorf("layers/ holds %v, want dup's %v", got, b.Layers)
	}
}

// What killed skiffs leave: unpacks, removals, the index's temporary
// files. Anything else stays.
func TestPruneLeftovers(t *testing.T) {
	s := openStore(t)
	writeTestFile(t, filepath.Join(s.layersDir(), ".unpack-123/etc/passwd"), "half", 0o644)
	must(t, os.Chmod(filepath.Join(s.layersDir(), ".unpack-123/etc"), 0o500)) // as a tar may leave it
	writeTestFile(t, filepath.Join(s.layersDir(), ".remove-456/"+sha(nil)+"/bin/sh"), "doomed", 0o755)
	writeTestFile(t, filepath.Join(s.layersDir(), ".remove-789"), "", 0o644) // not even a folder
	writeTestFile(t, filepath.Join(s.root, ".images.json.tmp-42"), "{", 0o600)
	writeTestFile(t, filepath.Join(s.layersDir(), "not-a-layer"), "mine", 0o644)
	writeTestFile(t, filepath.Join(s.root, "images.json"), "{}", 0o600)
	prune(t, s, nil)
	if got := layers(t, s); !slices.Equal(got, []string{"not-a-layer"}) {
		t.Errorf("layers/ holds %v, want only not-a-layer", got)
	}
	checkMissing(t, filepath.Join(s.root, ".images.json.tmp-42"))
	checkContent(t, filepath.Join(s.root, "images.json"), "{}")
}

// An unpack that is going on is not a leftover, nor is a layer unpacked
// for an image not saved yet.
func TestPruneSparesLiveImports(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	data := bigTar(t, "L")
	pr, pw := io.Pipe()
	done := make(chan error)
	go func() {
		_, err := s.ImportTar(pr, "live")
		done <- err
	}()
	_, err := pw.Write(data[:1<<20]) // half the file: the unpack waits for the rest
	must(t, err)
	unpack := waitForUnpack(t, s)
	prune(t, s, nil)
	stat(t, unpack)
	_, err = pw.Write(data[1<<20:])
	must(t, err)
	must(t, pw.Close())
	must(t, <-done)
	prune(t, s, nil)
	if got := layers(t, s); !slices.Equal(got, []string{sha(data)}) {
		t.Errorf("layers/ holds %v, want the live import's layer", got)
	}

	// As a pull does it: the layers first, the image last.
	base := makeTar(t, tarFile{Name: "base", Body: "b"})
	must(t, s.AddLayer(bytes.NewReader(base), sha(base)))
	other, err := Open(s.root) // another skiff
	must(t, err)
	prune(t, other, nil)
	stat(t, s.layerDir(sha(base)))
	_, err = s.AddImage("pulled:latest", []string{sha(base)}, Config{}, time.Now())
	must(t, err)
	// Pulled again, under another name: Remove leaves it to the pull.
	must(t, s.AddLayer(bytes.NewReader(base), sha(base)))
	must(t, other.Remove("pulled", nil))
	stat(t, s.layerDir(sha(base)))
	_, err = s.AddImage("again:latest", []string{sha(base)}, Config{}, time.Now())
	must(t, err)
	must(t, other.Remove("again", nil))
	checkMissing(t, s.layerDir(sha(base)))
}

// waitForUnpack waits for an unpack folder with something in it, and
// returns it.
func waitForUnpack(t *testing.T, s *Store) string {
	t.Helper()
	for range 500 {
		found, _ := filepath.Glob(filepath.Join(s.layersDir(), ".unpack-*", "*"))
		if len(found) > 0 {
			return filepath.Dir(found[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no unpack started")
	return ""
}

// An unpack's folder goes once its skiff is killed.
func TestPruneAfterKilledImport(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperImport$")
	cmd.Env = append(os.Environ(), "SKIFF_TEST_STORE="+s.root)
	stdin, err := cmd.StdinPipe()
	must(t, err)
	must(t, cmd.Start())
	data := bigTar(t, "K")
	_, err = stdin.Write(data[:1<<20])
	must(t, err)
	unpack := waitForUnpack(t, s)
	prune(t, s, nil)
	stat(t, unpack)
	must(t, cmd.Process.Kill())
	cmd.Wait()
	prune(t, s, nil)
	if got := layers(t, s); len(got) != 0 {
		t.Errorf("layers/ holds %v, want nothing", got)
	}
}

// TestHelperImport is TestPruneAfterKilledImport's skiff: it imports the
// tar on its stdin.
func TestHelperImport(t *testing.T) {
	root := os.Getenv("SKIFF_TEST_STORE")
	if root == "" {
		t.Skip("a helper process of TestPruneAfterKilledImport")
	}
	s, err := Open(root)
	must(t, err)
	_, err = s.ImportTar(os.Stdin, "killed")
	must(t, err)
}

// A layer id is a name in layers/, not a path.
func TestLayerIDs(t *testing.T) {
	s := openStore(t)
	for _, id := range []string{"", ".", "..", "../..", "../../../etc", strings.Repeat("A", 64), sha(nil) + "/.."} {
		if s.HasLayer(id) {
			t.Errorf("HasLayer(%q) = true", id)
		}
		if _, err := s.AddImage("bad", []string{id}, Config{}, time.Now()); err == nil || !strings.Contains(err.Error(), "not a layer id") {
			t.Errorf("AddImage with layer %q: %v, want an error", id, err)
		}
	}
	checkMissing(t, s.indexPath())
}

// A folder that a tar made read-only goes too, even for a user other
// than root.
func TestRemoveTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	writeTestFile(t, filepath.Join(dir, "a/b/c"), "x", 0o644)
	must(t, os.Chmod(filepath.Join(dir, "a/b"), 0o500))
	must(t, os.Chmod(filepath.Join(dir, "a"), 0o000))
	must(t, removeTree(dir))
	checkMissing(t, dir)
}
