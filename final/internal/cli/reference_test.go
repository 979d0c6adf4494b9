package cli

import (
	"bytes"
	"os"
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
	if u, err := parseUser("1000:100"); err != nil || u.UID != 1000 || u.GID != 100 {
		t.Errorf("1000:100 = %+v, %v", u, err)
	}
	if u, err := parseUser("1000"); err != nil || u.GID != 1000 {
		t.Errorf("1000 = %+v, %v", u, err)
	}
	for _, bad := range []string{"nobody", "1:x", "-1", ":1"} {
		if _, err := parseUser(bad); err == nil {
			t.Errorf("parseUser(%q) succeeded", bad)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"KILL": 9, "SIGTERM": 15, "term": 15, "10": 10} {
		if got, err := parseSignal(in); err != nil || int(got) != want {
			t.Errorf("parseSignal(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"BOGUS", "0", "99", ""} {
		if _, err := parseSignal(bad); err == nil {
			t.Errorf("parseSignal(%q) succeeded", bad)
		}
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"})
	if len(got) != 3 || got[1] != "A=2" || got[2] != "B=3" {
		t.Errorf("mergeEnv = %v", got)
	}
}
