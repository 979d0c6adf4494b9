package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSaveLoadRoundTrip saves a committed image and its base, and loads
// them into another store: same names, IDs, layer ids, config and
// history, and the files are there.
func TestSaveLoadRoundTrip(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	base, err := s.ImportDir(makeRootfs(t), "base")
	must(t, err)
	config := Config{Env: []string{"A=1"}, Cmd: []string{"/bin/tool"}, WorkingDir: "/etc", User: "1:2"}
	top, err := s.Commit(makeUpper(t), base, config, "committed:v1", containerPaths, Owners{},
		History{CreatedBy: "sh -c echo hi", Comment: "a commit"})
	must(t, err)
	_, err = s.Tag("committed:v1", "other/name:v2")
	must(t, err)

	var buf bytes.Buffer
	must(t, s.Save(&buf, []string{"committed:v1", "base", "other/name:v2"}))
	files := archiveFiles(t, buf.Bytes())
	for _, name := range []string{"manifest.json", "index.json", "oci-layout"} {
		if _, ok := files[name]; !ok {
			t.Errorf("the archive has no %s", name)
		}
	}
	var manifest []saveManifest
	must(t, json.Unmarshal(files["manifest.json"], &manifest))
	if len(manifest) != 2 || !slices.Equal(manifest[0].RepoTags, []string{"committed:v1", "other/name:v2"}) || len(manifest[0].Layers) != 2 {
		t.Fatalf("manifest.json: %+v", manifest)
	}
	if manifest[1].Layers[0] != manifest[0].Layers[0] || len(files) != 2+2+2+3 { // layers, configs, OCI manifests, index.json manifest.json oci-layout
		t.Errorf("the archive holds %d files: want each blob once", len(files))
	}
	for i, p := range manifest[0].Layers {
		if p != blobsDir+top.Layers[i] {
			t.Errorf("layer %d is %s, want %s: a saved layer must have the id it has in the store", i, p, blobsDir+top.Layers[i])
		}
	}

	other := openStore(t)
	loaded, err := other.Load(bytes.NewReader(buf.Bytes()))
	must(t, err)
	if len(loaded) != 3 {
		t.Fatalf("loaded %d images, want 3", len(loaded))
	}
	got, err := other.Get("committed:v1")
	must(t, err)
	if got.ID != top.ID || !slices.Equal(got.Layers, top.Layers) || !got.Created.Equal(top.Created) {
		t.Errorf("loaded %+v, want %+v", got, top)
	}
	if !slices.Equal(got.Config.Env, config.Env) || got.Config.User != "1:2" || got.Config.WorkingDir != "/etc" {
		t.Errorf("loaded config %+v, want %+v", got.Config, config)
	}
	if len(got.History) != 2 || got.History[1].CreatedBy != "sh -c echo hi" || got.History[1].Comment != "a commit" ||
		!strings.HasPrefix(got.History[0].Comment, "Imported from ") {
		t.Errorf("loaded history %+v", got.History)
	}
	layer := other.LayerDirs(got)[1]
	checkContent(t, filepath.Join(layer, "etc/app.conf"), "setting=1")
	checkWhiteout(t, filepath.Join(layer, "bin/tool"))
	checkOpaque(t, filepath.Join(layer, "var/cache"))
	if _, err := other.Get("other/name:v2"); err != nil {
		t.Error(err)
	}

	// An OCI layout alone (no manifest.json) loads too, named by its index.
	delete(files, "manifest.json")
	third := openStore(t)
	loaded, err = third.Load(bytes.NewReader(makeArchive(t, files)))
	must(t, err)
	if len(loaded) != 3 || loaded[0].ID != top.ID && loaded[1].ID != top.ID {
		t.Errorf("from the OCI layout: %+v", loaded)
	}
}

// TestSaveMissing: nothing is written for an image that is not there.
func TestSaveMissing(t *testing.T) {
	s := openStore(t)
	var buf bytes.Buffer
	if err := s.Save(&buf, []string{"nosuch"}); err == nil || buf.Len() != 0 {
		t.Errorf("save of a missing image: %v, %d bytes written", err, buf.Len())
	}
}

func archiveFiles(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		must(t, err)
		if hdr.Typeflag == tar.TypeReg {
			body, err := io.ReadAll(tr)
			must(t, err)
			files[hdr.Name] = body
		}
	}
}

// makeArchive makes a tar of files, in name order.
func makeArchive(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var list []tarFile
	for _, name := range slices.Sorted(mapKeys(files)) {
		list = append(list, tarFile{Name: name, Body: string(files[name])})
	}
	return makeTar(t, list...)
}

func mapKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// legacySave is an archive as Docker before 25 saves one image of layers:
// ID.json, LAYER/layer.tar, manifest.json. edit may change it.
func legacySave(t *testing.T, layers [][]byte, edit func(m *saveManifest, c *ociConfig, files map[string][]byte)) []byte {
	t.Helper()
	files := map[string][]byte{}
	m := saveManifest{RepoTags: []string{"legacy:1"}}
	c := ociConfig{Architecture: "amd64", OS: "linux", RootFS: ociRootFS{Type: "layers"}, Created: time.Unix(1e9, 0)}
	for i, layer := range layers {
		p := strings.Repeat(string(rune('a'+i)), 64) + "/layer.tar"
		files[p] = layer
		m.Layers = append(m.Layers, p)
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, "sha256:"+sha(layer))
		c.History = append(c.History, History{CreatedBy: "layer " + p})
	}
	if edit != nil {
		edit(&m, &c, files)
	}
	config, err := json.Marshal(c)
	must(t, err)
	if m.Config == "" {
		m.Config = sha(config) + ".json"
		files[m.Config] = config
	}
	manifest, err := json.Marshal([]saveManifest{m})
	must(t, err)
	files["manifest.json"] = manifest
	return makeArchive(t, files)
}

func TestLoadLegacy(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	layer := makeTar(t, tarFile{Name: "etc/", Type: tar.TypeDir}, tarFile{Name: "etc/motd", Body: "hi"})
	for name, data := range map[string][]byte{
		"plain":           legacySave(t, [][]byte{layer}, nil),
		"gzip layer":      legacySave(t, [][]byte{gzipped(t, layer)}, func(m *saveManifest, c *ociConfig, _ map[string][]byte) { c.RootFS.DiffIDs[0] = "sha256:" + sha(layer) }),
		"gzip archive":    gzipped(t, legacySave(t, [][]byte{layer}, nil)),
		"json-like layer": legacySave(t, [][]byte{makeTar(t, tarFile{Name: "{x}", Body: "odd"})}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			images, err := s.Load(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(images) != 1 || images[0].Name != "legacy:1" || len(images[0].History) != 1 {
				t.Fatalf("loaded %+v", images)
			}
			if name == "json-like layer" { // kept in memory as JSON, then unpacked
				checkContent(t, filepath.Join(s.LayerDirs(images[0])[0], "{x}"), "odd")
			} else {
				checkContent(t, filepath.Join(s.LayerDirs(images[0])[0], "etc/motd"), "hi")
			}
		})
	}
}

// TestLoadHostile: a bad archive fails with one line, adds no image, and
// leaves no layer that PruneLayers would not delete, and nothing else.
func TestLoadHostile(t *testing.T) {
	needRoot(t)
	good := makeTar(t, tarFile{Name: "etc/", Type: tar.TypeDir}, tarFile{Name: "etc/motd", Body: "hi"})
	evil := makeTar(t, tarFile{Name: "../../escaped", Body: "x"})
	outside := filepath.Join(t.TempDir(), "secret")
	must(t, os.WriteFile(outside, []byte("secret"), 0o600))
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"config path escapes": {legacySave(t, [][]byte{good}, func(m *saveManifest, _ *ociConfig, _ map[string][]byte) {
			m.Config = "../../etc/passwd"
		}), "not inside the archive"},
		"absolute layer path": {legacySave(t, [][]byte{good}, func(m *saveManifest, _ *ociConfig, _ map[string][]byte) {
			m.Layers[0] = outside
		}), "not inside the archive"},
		"missing layer": {legacySave(t, [][]byte{good}, func(m *saveManifest, _ *ociConfig, _ map[string][]byte) {
			m.Layers[0] = "nosuch/layer.tar"
		}), "has no file"},
		"layer digest mismatch": {legacySave(t, [][]byte{good}, func(_ *saveManifest, c *ociConfig, _ map[string][]byte) {
			c.RootFS.DiffIDs[0] = "sha256:" + sha([]byte("other"))
		}), "the config says sha256:"},
		"blob digest mismatch": {legacySave(t, [][]byte{good}, func(m *saveManifest, _ *ociConfig, files map[string][]byte) {
			p := blobsDir + sha([]byte("other"))
			files[p] = files[m.Layers[0]]
			m.Layers[0] = p
		}), "its content's digest is"},
		"config digest mismatch": {legacySave(t, [][]byte{good}, func(m *saveManifest, _ *ociConfig, files map[string][]byte) {
			m.Config = sha([]byte("other")) + ".json"
			files[m.Config] = []byte(`{"rootfs":{"type":"layers","diff_ids":["sha256:` + sha(good) + `"]}}`)
		}), "its content's digest is"},
		"layer count mismatch": {legacySave(t, [][]byte{good}, func(_ *saveManifest, c *ociConfig, _ map[string][]byte) {
			c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, c.RootFS.DiffIDs[0])
		}), "lists 2 layers, its manifest 1"},
		"link out of the archive": {legacySave(t, [][]byte{good}, func(m *saveManifest, _ *ociConfig, files map[string][]byte) {
			files["link"] = nil // replaced by a symlink below
			m.Layers[0] = "link"
		}), "leads out of the archive"},
		"layer escapes its root": {legacySave(t, [][]byte{evil}, nil), "escaped"},
		"history too long": {legacySave(t, [][]byte{good}, func(_ *saveManifest, c *ociConfig, _ map[string][]byte) {
			c.History = append(c.History, History{})
		}), "history lists more layers"},
		"no name": {legacySave(t, [][]byte{good}, func(m *saveManifest, _ *ociConfig, _ map[string][]byte) {
			m.RepoTags = nil
		}), "has no name"},
		"bad name": {legacySave(t, [][]byte{good}, func(m *saveManifest, _ *ociConfig, _ map[string][]byte) {
			m.RepoTags = []string{"UPPER:x"}
		}), "invalid image name"},
		"no manifest":   {makeTar(t, tarFile{Name: "x", Body: "y"}), "no manifest.json"},
		"not a tar":     {[]byte("hello, world, this is not a tar file at all, not even close......"), "archive"},
		"duplicate":     {makeTar(t, tarFile{Name: "manifest.json", Body: "[]"}, tarFile{Name: "./manifest.json", Body: "[]"}), "twice"},
		"empty":         {makeTar(t, tarFile{Name: "manifest.json", Body: "[]"}), "no image"},
		"huge json":     {makeTar(t, tarFile{Name: "manifest.json", Body: "[" + strings.Repeat(" ", maxJSONFile) + "]"}), "not a JSON file"},
		"manifest junk": {makeTar(t, tarFile{Name: "manifest.json", Body: "{"}), "manifest.json"},
	} {
		t.Run(name, func(t *testing.T) {
			data := tc.data
			if name == "link out of the archive" {
				data = withSymlink(t, data, "link", "../../../etc/shadow")
			}
			s := openStore(t)
			_, err := s.Load(bytes.NewReader(data))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("load: %v, want one line about %q", err, tc.want)
			}
			t.Log(err)
			if images, _ := s.List(); len(images) != 0 {
				t.Errorf("a failed load added %v", images)
			}
			_, err = s.PruneLayers(nil)
			must(t, err)
			if entries, _ := os.ReadDir(s.LayersDir()); len(entries) != 0 {
				t.Errorf("a failed load left %v", entries)
			}
			checkContent(t, outside, "secret")
			checkMissing(t, filepath.Join(filepath.Dir(s.root), "escaped"))
		})
	}
}

// withSymlink replaces the archive's file name by a symlink to target.
func withSymlink(t *testing.T, data []byte, name, target string) []byte {
	t.Helper()
	var list []tarFile
	for p, body := range archiveFiles(t, data) {
		if p == name {
			list = append(list, tarFile{Name: p, Type: tar.TypeSymlink, Link: target})
		} else {
			list = append(list, tarFile{Name: p, Body: string(body)})
		}
	}
	return makeTar(t, list...)
}

func TestTag(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	base, err := s.ImportDir(makeRootfs(t), "base")
	must(t, err)
	tagged, err := s.Tag(base.ID[:12], "localhost:5000/me/base:v1")
	must(t, err)
	if tagged.ID != base.ID || tagged.Name != "localhost:5000/me/base:v1" {
		t.Errorf("tagged %+v", tagged)
	}
	if _, err := s.Tag("base", "Bad Name"); err == nil {
		t.Error("tag to an invalid name worked")
	}
	if _, err := s.Tag("nosuch", "x"); err == nil {
		t.Error("tag of a missing image worked")
	}
	if err := s.Remove(base.ID, nil); err == nil {
		t.Error("removing an image of two names by ID worked")
	}
}

func TestHistory(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	base, err := s.ImportDir(makeRootfs(t), "base")
	must(t, err)
	top, err := s.Commit(makeUpper(t), base, Config{}, "top", containerPaths, Owners{}, History{CreatedBy: "sh", Comment: "msg"})
	must(t, err)
	steps, err := s.History(top)
	must(t, err)
	if len(steps) != 2 || steps[0].CreatedBy != "sh" || steps[0].Comment != "msg" || steps[0].Layer != top.Layers[1] ||
		steps[0].Size == 0 || steps[1].Layer != base.Layers[0] {
		t.Errorf("history %+v", steps)
	}
	old := &Image{Layers: top.Layers, Created: top.Created} // saved by a skiff without history
	if steps, err := s.History(old); err != nil || len(steps) != 2 || !steps[1].Created.Equal(top.Created) {
		t.Errorf("history of an image without one: %+v, %v", steps, err)
	}
	short := &Image{Layers: top.Layers, Created: top.Created, History: []History{{CreatedBy: "first"}, {CreatedBy: "ENV", EmptyLayer: true}}}
	if steps, err := s.History(short); err != nil || len(steps) != 3 || steps[0].Layer != top.Layers[1] || steps[2].CreatedBy != "first" {
		t.Errorf("history of an image with a short one: %+v, %v: want a step for the last layer", steps, err)
	}
}

// TestLoadReleasesPins: once Load returns, it holds no layer, even of an
// image that lists one twice: PruneLayers may take what no image lists.
func TestLoadReleasesPins(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	layer := makeTar(t, tarFile{Name: "etc/", Type: tar.TypeDir}, tarFile{Name: "etc/motd", Body: "hi"})
	images, err := s.Load(bytes.NewReader(legacySave(t, [][]byte{layer, layer}, nil)))
	must(t, err)
	if len(images) != 1 || len(images[0].Layers) != 2 {
		t.Fatalf("loaded %+v", images)
	}
	if len(s.pins) != 0 {
		t.Errorf("Load still holds %d layers", len(s.pins))
	}
}
