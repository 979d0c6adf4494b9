// Package caps limits what root inside a container may do: the five
// capability sets of the OCI runtime spec, and Docker's default list.
package caps

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Docker's default capabilities but CAP_MKNOD and CAP_NET_RAW. Root in the
// container keeps these; every other one (CAP_SYS_ADMIN to mount,
// CAP_SYS_TIME to set the host's clock, CAP_SYS_MODULE...) is dropped
// from the bounding set, so the command cannot have it after exec.
//
// Docker keeps CAP_MKNOD and lets its device allowlist stop the nodes that
// matter; skiff has the same allowlist (package cgroups/devices) and drops
// CAP_MKNOD as well: two locks on the host's disks and /dev/kmsg.
//
// Docker keeps CAP_NET_RAW for ping. It also opens packet sockets, which
// see and forge whole frames on the container's links: ARP replies that
// make the bridge send a neighbour's traffic to the container. skiff drops
// it, as Podman does; ping needs --cap-add NET_RAW (busybox's ping has no
// fallback to the unprivileged ICMP sockets of net.ipv4.ping_group_range).
var kept = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
	"CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_SETFCAP",
}

// Kept lists the capabilities a skiff container keeps, as the OCI runtime
// spec names them, in the order of their numbers.
func Kept() []string { return slices.Clone(kept) }

// Default is the spec's process.capabilities of a skiff container: Kept
// in the bounding, effective and permitted sets, as Docker does.
func Default() *specs.LinuxCapabilities { return SetsOf(Kept()) }

// byName numbers every capability Linux 6.1 knows.
var byName = map[string]uintptr{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE, "CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH,
	"CAP_FOWNER": unix.CAP_FOWNER, "CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP, "CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE,
	"CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE, "CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST,
	"CAP_NET_ADMIN": unix.CAP_NET_ADMIN, "CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_IPC_LOCK": unix.CAP_IPC_LOCK,
	"CAP_IPC_OWNER": unix.CAP_IPC_OWNER, "CAP_SYS_MODULE": unix.CAP_SYS_MODULE, "CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE, "CAP_SYS_PACCT": unix.CAP_SYS_PACCT,
	"CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN, "CAP_SYS_BOOT": unix.CAP_SYS_BOOT, "CAP_SYS_NICE": unix.CAP_SYS_NICE,
	"CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "CAP_SYS_TIME": unix.CAP_SYS_TIME, "CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG,
	"CAP_MKNOD": unix.CAP_MKNOD, "CAP_LEASE": unix.CAP_LEASE, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
	"CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "CAP_SETFCAP": unix.CAP_SETFCAP, "CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE,
	"CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN, "CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ, "CAP_PERFMON": unix.CAP_PERFMON,
	"CAP_BPF": unix.CAP_BPF, "CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// Set is a set of capabilities, one bit each.
type Set uint64

// Parse reads a list of capability names.
func Parse(names []string) (Set, error) {
	var s Set
	for _, name := range names {
		c, ok := byName[name]
		if !ok {
			return 0, fmt.Errorf("unknown capability %q", name)
		}
		s |= 1 << c
	}
	return s, nil
}

// Sets are the five sets of process.capabilities, parsed.
type Sets struct{ Bounding, Effective, Permitted, Inheritable, Ambient Set }

// ParseSets reads the spec's capabilities; nil means none at all.
func ParseSets(c *specs.LinuxCapabilities) (Sets, error) {
	if c == nil {
		return Sets{}, nil
	}
	var s Sets
	var err error
	for _, set := range []struct {
		to    *Set
		names []string
	}{{&s.Bounding, c.Bounding}, {&s.Effective, c.Effective}, {&s.Permitted, c.Permitted},
		{&s.Inheritable, c.Inheritable}, {&s.Ambient, c.Ambient}} {
		if *set.to, err = Parse(set.names); err != nil {
			return s, err
		}
	}
	return s, nil
}

// LimitBounding drops every capability not in keep from the bounding set
// of the calling thread; what it execs or forks inherits the set.
func LimitBounding(keep Set) error {
	for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("prctl PR_CAPBSET_DROP %d: %w", c, err)
		}
	}
	return nil
}

// Apply sets the calling thread's effective, permitted and inheritable
// sets, then raises its ambient ones: after the switch to the container's
// user (KeepOverSetuid) and the bounding set, just before exec. The kernel
// raises an ambient capability only if it is also permitted and
// inheritable; the others are left out, as runc and crun do (`runc spec`
// lists three ambient capabilities and no inheritable one).
func Apply(s Sets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		data[i].Effective = uint32(s.Effective >> (32 * i))
		data[i].Permitted = uint32(s.Permitted >> (32 * i))
		data[i].Inheritable = uint32(s.Inheritable >> (32 * i))
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && s.Ambient != 0 {
		return fmt.Errorf("prctl PR_CAP_AMBIENT_CLEAR_ALL: %w", err)
	}
	ambient := s.Ambient & s.Permitted & s.Inheritable
	for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
		if ambient&(1<<c) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, c, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_CAP_AMBIENT_RAISE %d: %w", c, err)
		}
	}
	return nil
}

// KeepOverSetuid keeps the thread's permitted set when it leaves uid 0,
// so that Apply can still give a non-root user its capabilities.
func KeepOverSetuid() error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", err)
	}
	return nil
}

// List is the set's capability numbers.
func (s Set) List() []uintptr {
	var list []uintptr
	for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
		if s&(1<<c) != 0 {
			list = append(list, c)
		}
	}
	return list
}

// Names lists every capability this package knows, sorted.
func Names() []string {
	var names []string
	for name := range byName {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Normalize is a capability's name as the spec writes it: "net_admin"
// and "NET_ADMIN" are "CAP_NET_ADMIN"; "ALL" stays.
func Normalize(name string) string {
	name = strings.ToUpper(name)
	if name == "ALL" || strings.HasPrefix(name, "CAP_") {
		return name
	}
	return "CAP_" + name
}

// Adjust is Docker's --cap-add and --cap-drop on skiff's default set:
// drop ALL empties it first, add ALL fills it with every capability this
// process's bounding set still has (a machine may hold some back from
// root itself), then each name is dropped or added. Names are as Normalize makes them; an unknown one is an
// error.
func Adjust(add, drop []string) ([]string, error) {
	set, err := Parse(Kept())
	if err != nil {
		return nil, err
	}
	for _, list := range [][]string{add, drop} {
		for _, name := range list {
			if _, ok := byName[name]; !ok && name != "ALL" {
				return nil, fmt.Errorf("unknown capability %q", name)
			}
		}
	}
	if slices.Contains(drop, "ALL") {
		set = 0
	}
	if slices.Contains(add, "ALL") {
		set = available()
	}
	for _, name := range drop {
		if name != "ALL" {
			set &^= 1 << byName[name]
		}
	}
	for _, name := range add {
		if name != "ALL" {
			set |= 1 << byName[name]
		}
	}
	return set.Names(), nil
}

// Names lists the set's capabilities by name, in the order of their
// numbers.
func (s Set) Names() []string {
	names := []string{}
	for _, c := range s.List() {
		for name, n := range byName {
			if n == c {
				names = append(names, name)
			}
		}
	}
	return names
}

// SetsOf is the spec's process.capabilities for a list: bounding,
// effective and permitted, as Docker gives them.
func SetsOf(names []string) *specs.LinuxCapabilities {
	return &specs.LinuxCapabilities{Bounding: names, Effective: slices.Clone(names), Permitted: slices.Clone(names)}
}

// available is the calling thread's bounding set.
func available() Set {
	var s Set
	for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
		if on, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, c, 0, 0, 0); err == nil && on == 1 {
			s |= 1 << c
		}
	}
	return s
}
