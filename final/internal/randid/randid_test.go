package randid

import (
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	a, b := New(), New()
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(a) || a == b {
		t.Errorf("New() = %q then %q: want two different sets of 64 hex digits", a, b)
	}
}
