//go:build ocitest

package oci

import (
	"context"
	"testing"
)

// TestFetch fills the Go module cache with what a build of the suite
// needs and builds nothing; make prefetch runs it (it needs no root).
func TestFetch(t *testing.T) {
	if err := Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
}
