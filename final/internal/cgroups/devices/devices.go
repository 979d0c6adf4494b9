// Package devices limits the device nodes a container's processes may
// open or create, in the container's cgroup: on cgroup v1 through the
// devices hierarchy's files, on v2 with a BPF program (program.go).
//
// Dropping CAP_MKNOD does not stop device nodes that arrive ready-made,
// in an image's layers or in a bind-mounted volume: a char node 1:11 is
// /dev/kmsg, the host's kernel log, whatever its name and wherever it
// sits. The cgroup checks the device's numbers at every open, whatever
// the path; the root overlay is also mounted nodev (package rootfs).
//
// It is a package apart from cgroups so that skiff-init, which needs the
// cgroups package's types, does not link the BPF library: 2 MB more to
// load and 0.25 ms more at each container start, for code it never runs.
package devices

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/cgroups"
)

// Set limits the processes of cg to the device nodes that rules allow, in
// the OCI runtime spec's form (linux.resources.devices): the last rule
// that matches a device decides; a device no rule matches is denied.
// Call it before the first process starts. On v2 the program stays
// attached until the cgroup is removed, with nothing to clean up.
func Set(cg cgroups.Manager, rules []specs.LinuxDeviceCgroup) error {
	if err := check(rules); err != nil {
		return err
	}
	if cgroups.Version() == 2 {
		return attach(cg.Paths()[0], rules)
	}
	hierarchy := filepath.Join(cgroups.Root, "devices") + "/"
	for _, dir := range cg.Paths() {
		if strings.HasPrefix(dir, hierarchy) {
			return writeV1(dir, rules)
		}
	}
	return errors.New("cgroup v1: the container has no folder in the devices hierarchy")
}

// writeV1 denies every device, then writes each rule into devices.allow
// or devices.deny, one rule per write; the kernel lists what is allowed
// in devices.list, in the same "c 1:3 rwm" form. Each file is opened
// once: opening a cgroup file costs more than writing to it.
func writeV1(dir string, rules []specs.LinuxDeviceCgroup) error {
	deny, err := os.OpenFile(filepath.Join(dir, "devices.deny"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer deny.Close()
	allow, err := os.OpenFile(filepath.Join(dir, "devices.allow"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer allow.Close()
	if _, err := deny.WriteString("a"); err != nil {
		return err
	}
	for _, r := range rules {
		f := deny
		if r.Allow {
			f = allow
		}
		if _, err := f.WriteString(line(r)); err != nil {
			return fmt.Errorf("device rule %q: %w", line(r), err)
		}
	}
	return nil
}

// check refuses a rule that v1's files and v2's program would not read
// the same way: an unknown type or access, a number out of range, or a
// type "a" rule that is not all of everything (v1 reads "a" as "every
// device, rwm" whatever follows it). An empty access means "rwm", an
// empty type "a".
func check(rules []specs.LinuxDeviceCgroup) error {
	for _, r := range rules {
		switch r.Type {
		case "", "a":
			if r.Major != nil || r.Minor != nil || accessBits(r.Access) != accessAll {
				return fmt.Errorf("device rule %q: type a (all devices) takes no numbers and all of rwm", line(r))
			}
		case "b", "c":
		default:
			return fmt.Errorf("device rule %q: type %q: want a, b or c", line(r), r.Type)
		}
		if strings.Trim(r.Access, "rwm") != "" {
			return fmt.Errorf("device rule %q: access %q: want some of r, w and m", line(r), r.Access)
		}
		for _, n := range []*int64{r.Major, r.Minor} {
			if n != nil && (*n < 0 || *n > math.MaxUint32) {
				return fmt.Errorf("device rule %q: device number %d out of range", line(r), *n)
			}
		}
	}
	return nil
}

// line writes a rule the way cgroup v1's devices.allow and devices.list
// read it: "c 1:3 rwm", "c 136:* rwm", or "a".
func line(r specs.LinuxDeviceCgroup) string {
	if r.Type == "" || r.Type == "a" {
		return "a"
	}
	number := func(n *int64) string {
		if n == nil {
			return "*"
		}
		return strconv.FormatInt(*n, 10)
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	return fmt.Sprintf("%s %s:%s %s", r.Type, number(r.Major), number(r.Minor), access)
}

// The access bits, as the kernel's BPF_DEVCG_ACC_* (linux/bpf.h).
const (
	accessMknod = 1
	accessRead  = 2
	accessWrite = 4
	accessAll   = accessMknod | accessRead | accessWrite
)

// accessBits reads "rwm" into bits; empty is all of them.
func accessBits(access string) int32 {
	if access == "" {
		return accessAll
	}
	var bits int32
	for _, c := range access {
		switch c {
		case 'm':
			bits |= accessMknod
		case 'r':
			bits |= accessRead
		case 'w':
			bits |= accessWrite
		}
	}
	return bits
}
