package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/caps"
	"skiff/internal/initproc"
	"skiff/internal/nsenter"
	"skiff/internal/seccomp"
)

// LoadBundle reads a bundle's config.json.
func LoadBundle(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &spec, nil
}

// cloneFlags are the namespaces a container may have of its own.
var cloneFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.MountNamespace: unix.CLONE_NEWNS, specs.UTSNamespace: unix.CLONE_NEWUTS,
	specs.IPCNamespace: unix.CLONE_NEWIPC, specs.PIDNamespace: unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET, specs.CgroupNamespace: unix.CLONE_NEWCGROUP,
	specs.UserNamespace: unix.CLONE_NEWUSER,
}

// nsNames are their names under /proc/PID/ns.
var nsNames = map[specs.LinuxNamespaceType]string{
	specs.MountNamespace: "mnt", specs.UTSNamespace: "uts", specs.IPCNamespace: "ipc",
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.CgroupNamespace: "cgroup",
	specs.UserNamespace: "user",
}

// Validate checks what skiff can run before anything is created: an
// ociVersion of 1.0.0 to 1.3.x, namespaces it supports (a mount namespace
// of its own is required: init changes mount propagation and must never
// do it on the host), a process it can start, a seccomp profile that
// compiles, and ID mappings for a new user namespace.
func Validate(spec *specs.Spec) error {
	_, err := validate(spec)
	return err
}

// validate is Validate, and returns the compiled seccomp filter, if the
// spec has one.
func validate(spec *specs.Spec) (*seccomp.Filter, error) {
	if err := checkVersion(spec.Version); err != nil {
		return nil, err
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return nil, errors.New("config.json: root.path is missing")
	}
	if err := checkProcess(spec.Process); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if spec.Linux == nil {
		return nil, errors.New("config.json: no linux section: skiff runs Linux containers only")
	}
	var filter *seccomp.Filter
	if spec.Linux.Seccomp != nil {
		var err error
		if filter, err = seccomp.Compile(spec.Linux.Seccomp); err != nil {
			return nil, fmt.Errorf("config.json: linux.seccomp: %w", err)
		}
	}
	if err := checkNamespaces(spec.Linux.Namespaces); err != nil {
		return nil, err
	}
	return filter, checkMappings(spec.Linux)
}

// checkProcess checks the process, if there is one: a container may be
// created without, but then start has nothing to run.
func checkProcess(p *specs.Process) error {
	if p == nil {
		return nil
	}
	if len(p.Args) == 0 {
		return errors.New("process.args must name a command")
	}
	if _, err := caps.ParseSets(p.Capabilities); err != nil {
		return fmt.Errorf("process.capabilities: %w", err)
	}
	// Like runc: a label for a security module this host does not run
	// means nothing here; one it runs would be a promise skiff breaks.
	if p.ApparmorProfile != "" && moduleEnabled("/sys/module/apparmor/parameters/enabled") {
		return fmt.Errorf("process.apparmorProfile %q: skiff does not apply AppArmor profiles, and this host enforces them", p.ApparmorProfile)
	}
	if p.SelinuxLabel != "" && moduleEnabled("/sys/fs/selinux/enforce") {
		return fmt.Errorf("process.selinuxLabel %q: skiff does not apply SELinux labels, and this host enforces them", p.SelinuxLabel)
	}
	return initproc.CheckRlimits(p.Rlimits)
}

// moduleEnabled reads a security module's switch: Y or 1 when it is on.
func moduleEnabled(path string) bool {
	data, err := os.ReadFile(path)
	v := strings.TrimSpace(string(data))
	return err == nil && (v == "Y" || v == "1")
}

func checkVersion(v string) error {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) == 3 && parts[0] == "1" {
		if minor, err := strconv.Atoi(parts[1]); err == nil && minor >= 0 && minor <= 3 {
			return nil
		}
	}
	return fmt.Errorf("config.json: ociVersion %q: skiff runs 1.0.0 to 1.3.x", v)
}

func checkNamespaces(list []specs.LinuxNamespace) error {
	seen := map[specs.LinuxNamespaceType]bool{}
	for _, ns := range list {
		if _, ok := cloneFlags[ns.Type]; !ok {
			return fmt.Errorf("config.json: %s namespace: skiff does not support it yet", ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("config.json: the %s namespace is listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Type == specs.MountNamespace && ns.Path != "" {
			return errors.New("config.json: joining a mount namespace is not supported: the container needs its own")
		}
	}
	if !seen[specs.MountNamespace] {
		return errors.New("config.json: the container needs a mount namespace of its own")
	}
	return nil
}

// namespaces splits the spec's namespaces into the clone flags of the new
// ones and the paths of those to join.
func namespaces(spec *specs.Spec) (flags uintptr, join []nsenter.Namespace) {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			flags |= cloneFlags[ns.Type]
		} else {
			join = append(join, nsenter.Namespace{Kind: nsNames[ns.Type], Path: ns.Path})
		}
	}
	return flags, join
}

// rootPath is root.path made absolute: relative to the bundle.
func rootPath(bundle string, spec *specs.Spec) string {
	if filepath.IsAbs(spec.Root.Path) {
		return spec.Root.Path
	}
	return filepath.Join(bundle, spec.Root.Path)
}
