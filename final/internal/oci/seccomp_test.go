package oci

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
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

// TestSeccompStep: exec installs the filter before the thread joins the
// namespaces and forks; a profile that denies those calls is refused.
func TestSeccompStep(t *testing.T) {
	c := &Container{Spec: Example()}
	run := exec.Command("true")
	run.SysProcAttr = &unix.SysProcAttr{}
	if step, err := c.seccompStep(run); step != nil || err != nil {
		t.Errorf("no profile: %v %v", step, err)
	}
	c.Spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
	if step, err := c.seccompStep(run); step == nil || err != nil {
		t.Errorf("a profile that denies mkdir: %v", err)
	}
	c.Spec.Linux.Seccomp = dockerLikeProfile(t) // without CAP_SYS_ADMIN: no setns, no clone3
	if _, err := c.seccompStep(run); err == nil || !strings.Contains(err.Error(), "denies setns") {
		t.Errorf("a profile that denies setns: %v", err)
	}
	c.Spec.Linux.Seccomp.Syscalls[0].Names = append(c.Spec.Linux.Seccomp.Syscalls[0].Names, "setns")
	if _, err := c.seccompStep(run); err != nil {
		t.Errorf("a profile that allows setns and clone: %v", err)
	}
	run.SysProcAttr.UseCgroupFD = true // cgroup v2
	if _, err := c.seccompStep(run); err == nil || !strings.Contains(err.Error(), "denies clone3") {
		t.Errorf("a profile that denies clone3: %v", err)
	}
}
