package cli

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"testing"
)

// TestReferenceIsCurrent: docs/skiff.md is generated from the command
// definitions; run `make docs` after changing a command or flag.
func TestReferenceIsCurrent(t *testing.T) {
	var want bytes.Buffer
	WriteReference(&want)
	got, err := os.ReadFile("../../../docs/skiff.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/skiff.md is stale: run 'make docs'")
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{"1024": 1024, "512k": 512 << 10, "64m": 64 << 20, "64MB": 64 << 20, "1.5g": 3 << 29}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "0", "-1m", "m", "12q", "lots"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) succeeded", bad)
		}
	}
}

func TestParseUser(t *testing.T) {
	db := userDB{
		passwd: []byte("root:x:0:0:root:/root:/bin/sh\nweb:x:33:44::/:/bin/false\n"),
		group:  []byte("root:x:0:\nwww:x:44:\nstaff:x:50:\n"),
	}
	good := map[string][2]uint32{"": {0, 0}, "root": {0, 0}, "web": {33, 44}, "web:staff": {33, 50},
		"33": {33, 44}, "1000": {1000, 0}, "1000:100": {1000, 100}, "1000:www": {1000, 44}}
	for in, want := range good {
		if u, err := parseUser(in, db); err != nil || u.UID != want[0] || u.GID != want[1] {
			t.Errorf("parseUser(%q) = %+v, %v; want %v", in, u, err, want)
		}
	}
	for _, bad := range []string{"nobody", "web:nogroup", "-1", ":1", "1:"} {
		if _, err := parseUser(bad, db); err == nil {
			t.Errorf("parseUser(%q) succeeded", bad)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3", "B=4", "C", "A=5"})
	if want := []string{"PATH=/bin", "A=5", "B=4", "C"}; !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %v, want %v", got, want)
	}
}

// BenchmarkMergeEnv20000 is `skiff run` with 20,000 -e flags: linear, not
// quadratic (it took 5.7 s when each flag was merged on its own).
func BenchmarkMergeEnv20000(b *testing.B) {
	add := make([]string, 20000)
	for i := range add {
		add[i] = fmt.Sprintf("K%d=%d", i, i)
	}
	for b.Loop() {
		mergeEnv([]string{defaultPath, "HOME=/root"}, add)
	}
}
