package oci

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"9": unix.SIGKILL, "KILL": unix.SIGKILL,
		"SIGUSR1": unix.SIGUSR1, "term": unix.SIGTERM, "15": unix.SIGTERM} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "65", "NOPE", "-1", "", "99"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) accepted", bad)
		}
	}
}
