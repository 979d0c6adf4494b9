package container

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/caps"
	"skiff/internal/initproc"
)

// Spec is the container's configuration as an OCI runtime spec: the
// config.json of its bundle, the container's folder, which skiff's OCI
// runtime (package oci) executes. dir is that folder, cgroupsPath its
// cgroup (PARENT/ID), and joined the namespaces it joins, by type, as
// /proc/PID/ns/KIND paths.
//
// The root filesystem is skiff's own: the image's layers under the
// container's writable layer, as an overlay mounted at "/", the spec's
// first mount, inside the container's mount namespace (never on the
// host), and then root.path. An OCI runtime other than skiff's expects
// root.path mounted already.
func (cfg *Config) Spec(dir, cgroupsPath string, joined map[specs.LinuxNamespaceType]string) *specs.Spec {
	process := cfg.Process
	names, _ := cfg.Security.Capabilities() // Validate checked them
	process.Capabilities = caps.SetsOf(names)
	process.NoNewPrivileges = cfg.Security.NoNewPrivileges
	process.Rlimits = cfg.Ulimits
	spec := &specs.Spec{
		Version:  specs.Version,
		Process:  &process,
		Root:     &specs.Root{Path: filepath.Join(dir, "merged"), Readonly: cfg.ReadOnly},
		Hostname: cfg.Hostname,
		Mounts:   cfg.specMounts(dir),
		Linux: &specs.Linux{
			Namespaces:    cfg.specNamespaces(joined),
			CgroupsPath:   cgroupsPath,
			Resources:     cfg.Limits.Spec(),
			MaskedPaths:   MaskedPaths,
			ReadonlyPaths: ReadOnlyPaths,
		},
	}
	cfg.applyUserNamespace(spec, joined[specs.UserNamespace])
	if ipc := joined[specs.IPCNamespace]; ipc != "" {
		shareShm(spec, ipc)
	}
	if cfg.Network.Mode.OwnNamespace() && joined[specs.NetworkNamespace] == "" {
		spec.Linux.Sysctl = map[string]string{"net.ipv4.ping_group_range": cfg.pingGroups()}
	}
	if cfg.Init {
		spec.Annotations = map[string]string{initproc.ReaperAnnotation: "true"}
	}
	spec.Linux.Seccomp = cfg.Security.SeccompProfile(names)
	for _, d := range cfg.Devices {
		major, minor := d.Major, d.Minor
		spec.Linux.Devices = append(spec.Linux.Devices, d.LinuxDevice)
		spec.Linux.Resources.Devices = append(spec.Linux.Resources.Devices,
			specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: d.Access})
	}
	if cfg.Security.Privileged {
		unconfine(spec)
	}
	return spec
}

// pingGroups lets every group of the container open ICMP datagram
// sockets, which ping without CAP_NET_RAW (as Docker does): its own
// network namespace is all they reach. In a user namespace, only the
// container's mapped groups are valid.
func (cfg *Config) pingGroups() string {
	last := int64(math.MaxInt32)
	if cfg.UserNS != nil {
		last = int64(cfg.UserNS.Size) - 1
	}
	return fmt.Sprintf("0 %d", last)
}

// unconfine is --privileged: every device, as the host's own nodes and
// in the cgroup's allowlist; /sys writable; nothing masked or read-only
// in /proc.
func unconfine(spec *specs.Spec) {
	spec.Linux.Devices = hostDevices()
	spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
	for i, m := range spec.Mounts {
		if m.Destination == "/sys" {
			spec.Mounts[i].Options = slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "ro" })
		}
	}
}

// MaskedPaths hide host information and knobs in /proc, as Docker does:
// files are covered with /dev/null, folders with an empty read-only tmpfs.
var MaskedPaths = []string{
	"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi", "/proc/scsi", "/sys/firmware",
}

// ReadOnlyPaths can be read but not written: kernel tunables of the host.
var ReadOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// specMounts are the mounts in the order init makes them: the overlay
// root, /proc, /sys and /dev, the volumes, then the init layer's files.
// The overlay is nodev: a device node that comes with an image (a char
// 1:11 is the host's /dev/kmsg, whatever its name) cannot be opened. Not
// nosuid: an image's setuid programs (su, ping) must work. The /dev on
// top is a mount of its own, whose nodes work.
func (cfg *Config) specMounts(dir string) []specs.Mount {
	mounts := []specs.Mount{
		{Destination: "/", Type: "overlay", Source: "overlay", Options: []string{"nodev",
			LowerDir(cfg.Layers), "upperdir=" + filepath.Join(dir, "upper"), "workdir=" + filepath.Join(dir, "work")}},
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	}
	mounts = append(mounts, cfg.Mounts...)
	for _, name := range InitLayerFiles {
		mounts = append(mounts, specs.Mount{Destination: name, Type: "bind", Source: filepath.Join(dir, filepath.Base(name)), Options: []string{"rbind"}})
	}
	return mounts
}

// LowerDir is overlayfs's lowerdir option for layers, lowest first.
func LowerDir(layers []string) string {
	lower := slices.Clone(layers)
	slices.Reverse(lower) // overlayfs wants the topmost first
	return "lowerdir=" + strings.Join(lower, ":")
}

// specNamespaces are the container's namespaces: new ones, or, for those
// it shares, the path of the one it joins; with --network host it has
// none of its own.
func (cfg *Config) specNamespaces(joined map[specs.LinuxNamespaceType]string) []specs.LinuxNamespace {
	kinds := []specs.LinuxNamespaceType{specs.MountNamespace, specs.UTSNamespace}
	if cfg.IPC != HostNamespace {
		kinds = append(kinds, specs.IPCNamespace)
	}
	if cfg.PID != HostNamespace {
		kinds = append(kinds, specs.PIDNamespace)
	}
	if cfg.Network.Mode != HostNetwork {
		kinds = append(kinds, specs.NetworkNamespace)
	}
	var ns []specs.LinuxNamespace
	for _, kind := range kinds {
		ns = append(ns, specs.LinuxNamespace{Type: kind, Path: joined[kind]})
	}
	return ns
}

// shareShm gives a container that joins another's IPC namespace that
// container's /dev/shm instead of its own: POSIX shared memory is files
// there, and sharing the namespace means sharing them, as Docker does.
// The owner's /dev/shm is reached through its first process's root
// (ipc is /proc/PID/ns/ipc), which init clones from that container's
// mount namespace (rootfs.cloneTree).
func shareShm(spec *specs.Spec, ipc string) {
	for i, m := range spec.Mounts {
		if m.Destination == "/dev/shm" {
			spec.Mounts[i] = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: SharedShm(ipc),
				Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
		}
	}
}

// SharedShm is the /dev/shm of the container whose IPC namespace is at
// ipc, /proc/PID/ns/ipc: /proc/PID/root/dev/shm.
func SharedShm(ipc string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(ipc)), "root", "dev", "shm")
}

// JoinPath is the path a container's namespace of a kind has while its
// first process, pid, runs: what Spec's joined map holds.
func JoinPath(pid int, kind specs.LinuxNamespaceType) string {
	names := map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc",
		specs.PIDNamespace: "pid", specs.MountNamespace: "mnt", specs.UTSNamespace: "uts", specs.UserNamespace: "user"}
	return fmt.Sprintf("/proc/%d/ns/%s", pid, names[kind])
}
