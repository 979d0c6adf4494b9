//go:build vmtest

package test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/creack/pty"

	"skiff/internal/image"
)

// The image commands Docker users type every day: tag, save, load,
// export, import -, history. The tests read the image store's index and
// layer folders, and the tars themselves, not only skiff's output.

// storedImage is the image called name in the store's index, or nil.
func storedImage(t *testing.T, name string) *image.Image {
	t.Helper()
	var index map[string]*image.Image
	data, err := os.ReadFile(filepath.Join(roots[3], "images", "images.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	return index[name]
}

func storedLayers(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(roots[3], "images", "layers"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// tarEntries maps each file of a tar to its content ("" for others).
func tarEntries(t *testing.T, data []byte) map[string]string {
	t.Helper()
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		files[strings.TrimPrefix(hdr.Name, "./")] = string(body)
	}
}

// failsCleanly runs skiff, which must fail with one line on stderr.
func failsCleanly(t *testing.T, stdin []byte, args ...string) {
	t.Helper()
	r := skiffIn(t, stdin, args...)
	if r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.HasPrefix(r.stderr, "skiff: ") ||
		strings.Contains(r.stderr, "panic") {
		t.Errorf("skiff %s: status %d, stderr %q: want 125 and one line", strings.Join(args, " "), r.status, r.stderr)
	}
}

// TestImagesBadInput: wrong arguments fail with one line, and change
// nothing in the store.
func TestImagesBadInput(t *testing.T) {
	index := filepath.Join(roots[3], "images", "images.json")
	before, layers := readFile(t, index), storedLayers(t)
	dir := t.TempDir()
	for _, args := range [][]string{
		{"tag"}, {"tag", "busybox"}, {"tag", "busybox", "a", "b"},
		{"save"}, {"save", "-o", filepath.Join(dir, "x.tar")}, {"save", "-o", "/no/such/dir/x.tar", "busybox"},
		{"load", "extra"}, {"load", "-i", "/no/such.tar"}, {"load", "-i", dir},
		{"export"}, {"export", "no-such-container"}, {"export", "a", "b"},
		{"history"}, {"history", "a", "b"}, {"history", "--format", "{{.Nope}}", "busybox"},
		{"import", "-"},
	} {
		failsCleanly(t, []byte{}, args...)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed saves left %v", entries)
	}
	if after := readFile(t, index); after != before || !slices.Equal(storedLayers(t), layers) {
		t.Errorf("failed commands changed the store: %q, then %q", before, after)
	}
}

func TestImagesTagRun(t *testing.T) {
	must(t, "tag", "busybox", "everyday/tagged:v1")
	t.Cleanup(func() { skiff(t, "rmi", "everyday/tagged:v1") })
	tagged, base := storedImage(t, "everyday/tagged:v1"), storedImage(t, "busybox:latest")
	if tagged == nil || tagged.ID != base.ID || !slices.Equal(tagged.Layers, base.Layers) {
		t.Fatalf("tagged %+v, want busybox's ID and layers %+v", tagged, base)
	}
	if out := must(t, "run", "--rm", "everyday/tagged:v1", "echo", "tagged runs"); out != "tagged runs\n" {
		t.Errorf("run of the tagged name: %q", out)
	}
	failsCleanly(t, nil, "tag", "nosuch", "x")
	failsCleanly(t, nil, "tag", "busybox", "Bad/NAME")
	if storedImage(t, "x:latest") != nil {
		t.Error("a failed tag added an image")
	}
}

// TestImagesSaveLoad: save, rmi, load gives back the same image (same ID,
// same layer ids, which are their tars' digests), that runs, from a file
// or from stdin; a tampered archive loads nothing.
func TestImagesSaveLoad(t *testing.T) {
	must(t, "run", "--name", "saver", "busybox", "sh", "-c", "echo kept > /saved")
	t.Cleanup(func() { skiff(t, "rm", "-f", "saver") })
	must(t, "commit", "saver", "everyday/saved:v1")
	must(t, "rm", "saver")
	t.Cleanup(func() { skiff(t, "rmi", "everyday/saved:v1") })
	orig := storedImage(t, "everyday/saved:v1")
	file := filepath.Join(t.TempDir(), "saved.tar")
	must(t, "save", "-o", file, "everyday/saved:v1")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var manifest []struct{ Config, RepoTags, Layers any }
	if err := json.Unmarshal([]byte(tarEntries(t, data)["manifest.json"]), &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json: %v, %+v", err, manifest)
	}
	if stdout := must(t, "save", "everyday/saved:v1"); stdout != string(data) {
		t.Error("save to stdout and save -o wrote different tars")
	}

	must(t, "rmi", "everyday/saved:v1")
	if slices.Contains(storedLayers(t), orig.Layers[1]) {
		t.Fatal("rmi left the committed layer: the load below would not show anything")
	}
	if out := must(t, "load", "-i", file); out != "Loaded image: everyday/saved:v1\n" {
		t.Errorf("load printed %q", out)
	}
	loaded := storedImage(t, "everyday/saved:v1")
	if loaded == nil || loaded.ID != orig.ID || !slices.Equal(loaded.Layers, orig.Layers) {
		t.Fatalf("loaded %+v, want %+v", loaded, orig)
	}
	if out := must(t, "run", "--rm", "everyday/saved:v1", "cat", "/saved"); out != "kept\n" {
		t.Errorf("the loaded image's /saved: %q", out)
	}

	must(t, "rmi", "everyday/saved:v1")
	if r := skiffIn(t, data, "load"); r.status != 0 || storedImage(t, "everyday/saved:v1") == nil {
		t.Errorf("load from stdin: %+v", r)
	}
	must(t, "rmi", "everyday/saved:v1")

	// A byte of the committed layer changed: its digest is not the one
	// its name and the config give. Nothing is added, nothing is left.
	before := storedLayers(t)
	tampered := bytes.Clone(data)
	i := bytes.Index(tampered, []byte("kept\n"))
	if i < 0 {
		t.Fatal("the committed file is not in the archive")
	}
	tampered[i] = 'K'
	failsCleanly(t, tampered, "load")
	if storedImage(t, "everyday/saved:v1") != nil {
		t.Error("a tampered archive was loaded")
	}
	if after := storedLayers(t); !slices.Equal(after, before) {
		t.Errorf("a failed load changed the layers: %v, then %v", before, after)
	}
	failsCleanly(t, []byte("not a tar at all"), "load")
	failsCleanly(t, nil, "save", "nosuch")
	if _, err := os.Stat(filepath.Join(filepath.Dir(file), "nosuch.tar")); err == nil {
		t.Error("a failed save left a file")
	}
	failsCleanly(t, nil, "save", "-o", filepath.Join(filepath.Dir(file), "nosuch.tar"), "nosuch")
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
		t.Errorf("a failed save -o left files: %v", entries)
	}

	// Docker's manners: no tar to a terminal.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	cmd := exec.Command("skiff", append(slices.Clone(roots), "save", "busybox")...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "refusing to save to a terminal") {
		t.Errorf("save to a terminal: %v, %q", err, stderr.String())
	}
}

// TestImagesExport: export writes the container's merged filesystem: its
// image's files, what it wrote, not what it deleted; stopped or running.
func TestImagesExport(t *testing.T) {
	must(t, "run", "--name", "exported", "busybox", "sh", "-c", "echo written > /root/new; rm /bin/ls")
	t.Cleanup(func() { skiff(t, "rm", "-f", "exported") })
	mounts := hostMounts(t)
	file := filepath.Join(t.TempDir(), "fs.tar")
	must(t, "export", "-o", file, "exported")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	files := tarEntries(t, data)
	if files["root/new"] != "written\n" {
		t.Errorf("export: root/new is %q, want the file the container wrote", files["root/new"])
	}
	if _, ok := files["bin/busybox"]; !ok {
		t.Error("export has no bin/busybox, the image's")
	}
	if _, ok := files["bin/ls"]; ok {
		t.Error("export has bin/ls, which the container deleted")
	}
	for name := range files {
		if strings.Contains(name, ".wh.") {
			t.Errorf("export has the whiteout %s", name)
		}
	}
	if stdout := must(t, "export", "exported"); stdout != string(data) {
		t.Error("export to stdout and export -o wrote different tars")
	}
	if after := hostMounts(t); after != mounts {
		t.Errorf("export left mounts:\n%s\nthen\n%s", mounts, after)
	}

	detached(t, "exported-live", "busybox", "sh", "-c", "echo live > /live; exec sleep 100")
	for range 50 {
		if files := tarEntries(t, []byte(must(t, "export", "exported-live"))); files["live"] == "live\n" {
			return
		}
	}
	t.Error("export of a running container never had /live")
}

// TestImagesExportUserns: the export of a container in a user namespace
// has its files with its own owners, not the host's IDs of its range, and
// the image's files with theirs.
func TestImagesExportUserns(t *testing.T) {
	must(t, "run", "--name", "exported-userns", "--userns", "private", "busybox", "sh", "-c", "echo mine > /mine; chown 42:43 /mine")
	t.Cleanup(func() { skiff(t, "rm", "-f", "exported-userns") })
	owners := map[string][2]int{}
	tr := tar.NewReader(strings.NewReader(must(t, "export", "exported-userns")))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		owners[strings.TrimPrefix(hdr.Name, "./")] = [2]int{hdr.Uid, hdr.Gid}
	}
	if owners["mine"] != [2]int{42, 43} || owners["bin/busybox"] != [2]int{0, 0} {
		t.Errorf("owners in the export: /mine %v, want 42:43; /bin/busybox %v, want 0:0", owners["mine"], owners["bin/busybox"])
	}
}

// TestImagesImportStdin: import - reads a tar from stdin.
func TestImagesImportStdin(t *testing.T) {
	r := skiffIn(t, rootfsTar(t, map[string]string{"imported": "from stdin"}), "import", "-", "everyday/stdin:v1")
	if r.status != 0 {
		t.Fatalf("import -: %+v", r)
	}
	t.Cleanup(func() { skiff(t, "rmi", "everyday/stdin:v1") })
	if img := storedImage(t, "everyday/stdin:v1"); img == nil || strings.TrimSpace(r.stdout) != img.ID {
		t.Errorf("import - printed %q; the index has %+v", r.stdout, img)
	}
	if out := must(t, "run", "--rm", "everyday/stdin:v1", "cat", "/imported"); out != "from stdin" {
		t.Errorf("the imported image's /imported: %q", out)
	}
	if out := must(t, "history", "--format", "{{.Comment}}", "everyday/stdin:v1"); out != "Imported from -\n" {
		t.Errorf("history of an import: %q", out)
	}
	before := storedLayers(t)
	failsCleanly(t, []byte("garbage, not a tar, not gzip, nothing"), "import", "-", "everyday/bad:v1")
	if storedImage(t, "everyday/bad:v1") != nil || !slices.Equal(storedLayers(t), before) {
		t.Error("a failed import - left an image or a layer")
	}
}

// TestImagesHistory: a committed image's history has the commit's step
// on top (its command, message and layer), and its base's below.
func TestImagesHistory(t *testing.T) {
	must(t, "run", "--name", "historian", "busybox", "sh", "-c", "echo 0123456789012345678901234567890123456789 > /f")
	t.Cleanup(func() { skiff(t, "rm", "-f", "historian") })
	must(t, "commit", "-m", "a message", "historian", "everyday/history:v1")
	t.Cleanup(func() { skiff(t, "rmi", "everyday/history:v1") })
	img := storedImage(t, "everyday/history:v1")

	lines := strings.Split(strings.TrimSpace(must(t, "history", "everyday/history:v1")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "IMAGE") || !strings.Contains(lines[0], "CREATED BY") {
		t.Fatalf("history:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.HasPrefix(lines[1], img.ID[:12]+" ") || !strings.Contains(lines[1], "sh -c echo 01234") ||
		!strings.Contains(lines[1], "…") || !strings.Contains(lines[1], "a message") {
		t.Errorf("history's commit line: %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "<missing>") || !strings.Contains(lines[2], "Imported from") {
		t.Errorf("history's base line: %q", lines[2])
	}
	full := must(t, "history", "--no-trunc", "--human=false", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", "everyday/history:v1")
	want := "sha256:" + img.ID + "|sh -c echo 0123456789012345678901234567890123456789 > /f|41\n"
	if first, _, _ := strings.Cut(full, "\n"); first+"\n" != want {
		t.Errorf("history --no-trunc: %q, want first %q", full, want)
	}
	if out := must(t, "history", "-q", "everyday/history:v1"); out != img.ID[:12]+"\n<missing>\n" {
		t.Errorf("history -q: %q", out)
	}
	failsCleanly(t, nil, "history", "nosuch")
}
