package oci

import (
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidate(t *testing.T) {
	valid := func() *specs.Spec { return Example() }
	if err := Validate(valid()); err != nil {
		t.Fatalf("the example spec: %v", err)
	}
	mapped := valid()
	mapped.Linux.Namespaces = append(mapped.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	mapped.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
	mapped.Linux.GIDMappings = mapped.Linux.UIDMappings
	if err := Validate(mapped); err != nil {
		t.Errorf("a user namespace with its maps: %v", err)
	}
	for _, v := range []string{"1.0.0", "1.0.2", "1.1.0", "1.2.1", "1.3.0", "1.3.0-rc.1"} {
		s := valid()
		s.Version = v
		if err := Validate(s); err != nil {
			t.Errorf("ociVersion %s refused: %v", v, err)
		}
	}
	cases := map[string]func(s *specs.Spec){
		"ociVersion":         func(s *specs.Spec) { s.Version = "2.0.0" },
		"1.4":                func(s *specs.Spec) { s.Version = "1.4.0" },
		"process.args":       func(s *specs.Spec) { s.Process.Args = nil },
		"root.path":          func(s *specs.Spec) { s.Root = nil },
		"unknown capability": func(s *specs.Spec) { s.Process.Capabilities.Bounding = []string{"CAP_FLY"} },
		"seccomp":            func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{} },
		"user namespace without maps": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
		},
		"maps without a user namespace": func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = s.Linux.UIDMappings
		},
		"a map of size 0": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: 100000}}
		},
		"listed twice": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UTSNamespace})
		},
		"own mount namespace": func(s *specs.Spec) { s.Linux.Namespaces = s.Linux.Namespaces[:4] },
		"joining a mount":     func(s *specs.Spec) { s.Linux.Namespaces[4].Path = "/proc/1/ns/mnt" },
	}
	for name, breakIt := range cases {
		s := valid()
		breakIt(s)
		err := Validate(s)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "config.json: ") {
			t.Errorf("%s: %q is not one line about config.json", name, err)
		}
	}
}

func TestNamespaces(t *testing.T) {
	s := Example()
	s.Linux.Namespaces[1].Path = "/proc/42/ns/net"
	flags, join := namespaces(s)
	if len(join) != 1 || join[0].Kind != "net" || join[0].Path != "/proc/42/ns/net" {
		t.Errorf("join = %+v", join)
	}
	if flags&cloneFlags[specs.NetworkNamespace] != 0 || flags&cloneFlags[specs.PIDNamespace] == 0 {
		t.Errorf("flags = %#x", flags)
	}
}
