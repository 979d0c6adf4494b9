//go:build vmtest

package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemDf: system df counts images and containers as Docker does,
// in a data root of its own: a stopped container's writable layer is
// reclaimable, a running one is active, and the image they came from is
// active, its layer counted once.
func TestSystemDf(t *testing.T) {
	dir := t.TempDir()
	mine := []string{"--root", filepath.Join(dir, "run"), "--data-root", filepath.Join(dir, "lib")}
	df := func() map[string][]string {
		t.Helper()
		r := skiffWith(t, mine, "system", "df")
		if r.status != 0 {
			t.Fatalf("system df: %d %s", r.status, r.stderr)
		}
		rows := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
			f := strings.Fields(line)
			rows[f[0]] = f[1:]
		}
		return rows
	}
	defer removeDefaultNetwork(t, mine)
	if rows := df(); strings.Join(rows["Images"], " ") != "0 0 0.0 B 0.0 B" || strings.Join(rows["Containers"], " ") != "0 0 0.0 B 0.0 B" {
		t.Errorf("an empty data root: %v", rows)
	}
	if v := strings.Join(df()["Local"], " "); v != "Volumes 0 0 0.0 B 0.0 B" {
		t.Errorf("Local Volumes of an empty data root: %q", v)
	}
	if r := skiffWith(t, mine, "import", os.Getenv("ROOTFS"), "busybox"); r.status != 0 {
		t.Fatalf("import: %s", r.stderr)
	}
	if img := df()["Images"]; img[0] != "1" || img[1] != "0" || img[4] == "0.0" || !strings.HasSuffix(img[6], "(100%)") {
		t.Errorf("Images: %v, want 1 image, not used, all of it reclaimable", img)
	}
	if r := skiffWith(t, mine, "run", "--name", "writer", "--network", "none", "-v", "kept:/kept", "busybox", "sh", "-c", "head -c 102400 /dev/zero > /big; head -c 51200 /dev/zero > /kept/half"); r.status != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	if r := skiffWith(t, mine, "run", "-d", "--name", "sleeper", "--network", "none", "busybox", "sleep", "100"); r.status != 0 {
		t.Fatalf("run -d: %s", r.stderr)
	}
	defer func() {
		skiffWith(t, mine, "rm", "-f", "sleeper", "writer")
		skiffWith(t, mine, "volume", "rm", "kept")
	}()
	rows := df()
	if img := rows["Images"]; len(img) != 7 || img[0] != "1" || img[1] != "1" || img[3] != "MiB" || img[4] != "0.0" {
		t.Errorf("Images: %v, want 1 image, active, in MiB, nothing reclaimable", img)
	}
	if c := strings.Join(rows["Containers"], " "); c != "2 1 100.0 KiB 100.0 KiB (100%)" {
		t.Errorf("Containers: %q, want 2, 1 running, and the stopped one's 100 KiB reclaimable", c)
	}
	if v := strings.Join(rows["Local"], " "); v != "Volumes 1 1 50.0 KiB 0.0 B (0%)" {
		t.Errorf("Local Volumes: %q, want 1, mounted by writer, 50 KiB", v)
	}

}
