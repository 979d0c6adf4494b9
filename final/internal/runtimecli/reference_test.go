package runtimecli

import (
	"bytes"
	"os"
	"testing"

	"skiff/internal/clidoc"
)

// TestReferenceIsCurrent: docs/skiff-runtime.md is generated from the
// command definitions; run `make docs` after changing a command or flag.
func TestReferenceIsCurrent(t *testing.T) {
	var want bytes.Buffer
	clidoc.Write(&want, App())
	got, err := os.ReadFile("../../../docs/skiff-runtime.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/skiff-runtime.md is stale: run 'make docs'")
	}
}
