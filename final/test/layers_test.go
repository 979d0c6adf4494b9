//go:build vmtest

package test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayersReleased: giving an image's name to another image releases
// the layers only the old one held, rmi releases the rest, and a layer a
// container runs on stays until the container is gone and prune runs.
func TestLayersReleased(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "bb.tar")
	small := filepath.Join(dir, "small.tar")
	other := filepath.Join(dir, "other.tar")
	bigTar := rootfsTar(t, map[string]string{"marker": "leak test"})
	os.WriteFile(big, bigTar, 0o644)
	os.WriteFile(small, filesTar(t, map[string]string{"f": "small"}), 0o644)
	os.WriteFile(other, rootfsTar(t, map[string]string{"marker": "in use"}), 0o644)
	bigLayer := layerID(bigTar)

	must(t, "import", big, "dup")
	if !hasLayer(bigLayer) {
		t.Fatalf("the imported layer %s is not in the store", bigLayer[:12])
	}
	must(t, "import", small, "dup")
	if hasLayer(bigLayer) {
		t.Errorf("import of another image as dup kept the old dup's layer %s, which no image lists", bigLayer[:12])
	}
	must(t, "rmi", "dup")
	if layers := storeLayers(t); strings.Contains(layers, layerID(filesTar(t, map[string]string{"f": "small"}))) {
		t.Errorf("rmi dup kept its layer: %s", layers)
	}

	// A layer in use by a container stays while the container does.
	must(t, "import", other, "inuse")
	otherLayer := layerID(readFileBytes(t, other))
	detached(t, "onlayer", "inuse", "sleep", "100")
	must(t, "import", small, "inuse")
	if !hasLayer(otherLayer) {
		t.Fatal("re-tagging deleted the layer a running container uses")
	}
	must(t, "rm", "-f", "onlayer")
	out := must(t, "system", "prune")
	if hasLayer(otherLayer) || !strings.Contains(out, "deleted layer "+otherLayer) {
		t.Errorf("prune kept the layer once no container used it:\n%s", out)
	}
	must(t, "rmi", "inuse")
}

func layerID(tarData []byte) string {
	sum := sha256.Sum256(tarData)
	return hex.EncodeToString(sum[:])
}

func hasLayer(id string) bool {
	_, err := os.Stat(filepath.Join(roots[3], "images", "layers", id))
	return err == nil
}

func storeLayers(t *testing.T) string {
	entries, err := os.ReadDir(filepath.Join(roots[3], "images", "layers"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func readFileBytes(t *testing.T, name string) []byte {
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
