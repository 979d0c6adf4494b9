package oci

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func dockerLikeProfile(t *testing.T) *specs.LinuxSeccomp {
	data, err := os.ReadFile("../seccomp/testdata/docker-like.json")
	if err != nil {
		t.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// TestValidateSeccomp: a profile that compiles passes; one that does not
// fails with one line that says why.
func TestValidateSeccomp(t *testing.T) {
	s := Example()
	s.Linux.Seccomp = dockerLikeProfile(t)
	if err := Validate(s); err != nil {
		t.Errorf("a Docker-like profile: %v", err)
	}
	s.Linux.Seccomp.Syscalls[0].Action = specs.ActNotify
	if err := Validate(s); err == nil || !strings.HasPrefix(err.Error(), "config.json: linux.seccomp: ") ||
		!strings.Contains(err.Error(), "SCMP_ACT_NOTIFY") {
		t.Errorf("SCMP_ACT_NOTIFY: %v", err)
	}
	if f := Features(); f.Linux.Seccomp.Enabled == nil || !*f.Linux.Seccomp.Enabled || len(f.Linux.Seccomp.Archs) != 3 {
		t.Errorf("features: %+v", f.Linux.Seccomp)
	}
}
