//go:build vmtest

package test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestInspectShowsTheSpec: inspect shows the container's configuration as
// an OCI runtime spec, and the kernel agrees with it: the cgroup at its
// cgroupsPath holds the container with its memory limit, the namespace it
// joins is the other container's, the masked paths are masked.
func TestInspectShowsTheSpec(t *testing.T) {
	detached(t, "specowner", "busybox", "sleep", "100")
	detached(t, "spec", "-m", "32m", "--network", "container:specowner", "busybox", "sleep", "100")
	var out struct {
		ID   string     `json:"id"`
		Spec specs.Spec `json:"spec"`
	}
	if err := unmarshalOne(must(t, "inspect", "spec"), &out); err != nil {
		t.Fatal(err)
	}
	s := out.Spec
	if s.Version != specs.Version || !slices.Equal(s.Process.Args, []string{"sleep", "100"}) {
		t.Errorf("spec version %q, args %v", s.Version, s.Process.Args)
	}
	if s.Linux.CgroupsPath != cgroupParent()+"/"+out.ID {
		t.Errorf("cgroupsPath %q", s.Linux.CgroupsPath)
	}
	pid := strconv.Itoa(pidOf(t, "spec"))
	for _, dir := range inspect(t, "spec").Cgroup {
		if !strings.HasSuffix(dir, "/"+s.Linux.CgroupsPath) {
			t.Errorf("the container's cgroup %s is not at the spec's cgroupsPath", dir)
		}
		if limit, err := os.ReadFile(filepath.Join(dir, "memory.max")); err == nil && strings.TrimSpace(string(limit)) != strconv.FormatInt(*s.Linux.Resources.Memory.Limit, 10) {
			t.Errorf("memory.max %s, the spec says %d", limit, *s.Linux.Resources.Memory.Limit)
		}
		if procs := readFile(t, filepath.Join(dir, "cgroup.procs")); !strings.Contains(procs, pid) {
			t.Errorf("%s does not hold the container's process %s", dir, pid)
		}
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.NetworkNamespace {
			continue
		}
		joined, _ := os.Readlink(ns.Path)
		mine, _ := os.Readlink("/proc/" + pid + "/ns/net")
		if ns.Path == "" || joined != mine {
			t.Errorf("the spec joins %q (%s), the container is in %s", ns.Path, joined, mine)
		}
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || must(t, "exec", "spec", "cat", "/proc/kcore") != "" {
		t.Error("/proc/kcore is not masked as the spec says")
	}
}
