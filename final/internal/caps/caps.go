// Package caps limits what root inside a container may do.
package caps

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// keptCapabilities are Docker's default capabilities but CAP_MKNOD. Root
// in the container keeps these; every other one (CAP_SYS_ADMIN to mount,
// CAP_SYS_TIME to set the host's clock, CAP_SYS_MODULE...) is dropped from
// the bounding set, so the command cannot have it after exec. Docker keeps
// CAP_MKNOD and lets its device allowlist stop the nodes that matter;
// skiff has the same allowlist (package cgroups/devices) and drops
// CAP_MKNOD as well: two locks on the host's disks and /dev/kmsg.
var keptCapabilities = []struct {
	cap  uintptr
	name string // as the OCI runtime spec writes it
}{
	{unix.CAP_CHOWN, "CAP_CHOWN"}, {unix.CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE"}, {unix.CAP_FOWNER, "CAP_FOWNER"},
	{unix.CAP_FSETID, "CAP_FSETID"}, {unix.CAP_KILL, "CAP_KILL"}, {unix.CAP_SETGID, "CAP_SETGID"},
	{unix.CAP_SETUID, "CAP_SETUID"}, {unix.CAP_SETPCAP, "CAP_SETPCAP"}, {unix.CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"},
	{unix.CAP_NET_RAW, "CAP_NET_RAW"}, {unix.CAP_SYS_CHROOT, "CAP_SYS_CHROOT"}, {unix.CAP_AUDIT_WRITE, "CAP_AUDIT_WRITE"},
	{unix.CAP_SETFCAP, "CAP_SETFCAP"},
}

// Drop removes every capability but Docker's defaults from the bounding set
// of the calling thread; processes it execs or forks inherit the set.
func Drop() error {
	kept := map[uintptr]bool{}
	for _, k := range keptCapabilities {
		kept[k.cap] = true
	}
	for c := uintptr(0); c <= unix.CAP_LAST_CAP; c++ {
		if kept[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("prctl PR_CAPBSET_DROP %d: %w", c, err)
		}
	}
	return nil
}

// Kept lists the capabilities a container keeps by name, as the OCI
// runtime spec writes them ("CAP_CHOWN"), in the order of their numbers.
func Kept() []string {
	var names []string
	for _, k := range keptCapabilities {
		names = append(names, k.name)
	}
	return names
}
