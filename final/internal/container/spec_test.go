package container

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/cgroups"
)

func TestSpec(t *testing.T) {
	cfg := valid("web")
	cfg.Hostname, cfg.ReadOnly = "web", true
	cfg.Layers = []string{"/l/base", "/l/top"}
	cfg.Mounts = []specs.Mount{{Source: "/srv", Destination: "/data", Type: "bind", Options: []string{"rbind", "ro"}}}
	cfg.Limits = cgroups.Resources{Memory: 64 << 20, CPUs: 0.5, Pids: 20}
	cfg.Network = NetworkConfig{Mode: ContainerNetwork, Join: "other"}
	spec := cfg.Spec("/run/skiff/containers/ID", "skiff/ID", map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: "/proc/7/ns/net"})

	data, err := json.Marshal(spec) // what a runtime reads back
	if err != nil {
		t.Fatal(err)
	}
	var back specs.Spec
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.Version != specs.Version || back.Hostname != "web" || !back.Root.Readonly || back.Root.Path != "/run/skiff/containers/ID/merged" {
		t.Errorf("version, hostname or root: %s %s %+v", back.Version, back.Hostname, back.Root)
	}
	var dests []string
	for _, m := range back.Mounts {
		dests = append(dests, m.Destination)
	}
	want := []string{"/", "/proc", "/sys", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/data", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
	if !slices.Equal(dests, want) {
		t.Errorf("mounts in the order %v, want %v", dests, want)
	}
	if overlay := back.Mounts[0].Options; !slices.Contains(overlay, "lowerdir=/l/top:/l/base") || !slices.Contains(overlay, "nodev") {
		t.Errorf("the overlay's options %v: want the top layer first, and nodev", overlay)
	}
	for _, ns := range back.Linux.Namespaces {
		if (ns.Path != "") != (ns.Type == specs.NetworkNamespace) {
			t.Errorf("namespace %s has path %q: only the network is joined", ns.Type, ns.Path)
		}
	}
	bounding := back.Process.Capabilities.Bounding
	if len(bounding) != 12 || slices.Contains(bounding, "CAP_MKNOD") || slices.Contains(bounding, "CAP_NET_RAW") || slices.Contains(bounding, "CAP_SYS_ADMIN") || !slices.Contains(bounding, "CAP_CHOWN") {
		t.Errorf("bounding capabilities %v: want Docker's 14 less CAP_MKNOD and CAP_NET_RAW", bounding)
	}
	r := back.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.Pids.Limit != 20 || len(r.Devices) != len(cgroups.DefaultDevices) {
		t.Errorf("resources: %+v", r)
	}
	if back.Linux.CgroupsPath != "skiff/ID" || !slices.Contains(back.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(back.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("cgroups path, masked or read-only paths: %+v", back.Linux)
	}

	cfg.Network = NetworkConfig{Mode: HostNetwork}
	for _, ns := range cfg.Spec("/d", "p/ID", nil).Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Error("--network host has a network namespace of its own in the spec")
		}
	}
}

// TestPingGroups: a container with a network namespace of its own lets
// its groups ping without CAP_NET_RAW; one that joins another's, or the
// host's, changes nothing there.
func TestPingGroups(t *testing.T) {
	const key = "net.ipv4.ping_group_range"
	cfg := valid("web")
	cfg.Network = NetworkConfig{Mode: BridgeNetwork}
	if got := cfg.Spec("/d", "p/ID", nil).Linux.Sysctl[key]; got != "0 2147483647" {
		t.Errorf("bridge: %s = %q, want every group", key, got)
	}
	cfg.UserNS = &UserNamespace{UID: 100000, GID: 100000, Size: 65536}
	if got := cfg.Spec("/d", "p/ID", nil).Linux.Sysctl[key]; got != "0 65535" {
		t.Errorf("--userns private: %s = %q, want the mapped groups", key, got)
	}
	cfg.UserNS = nil
	for _, n := range []NetworkConfig{{Mode: HostNetwork}, {Mode: ContainerNetwork, Join: "other"}} {
		cfg.Network = n
		joined := map[specs.LinuxNamespaceType]string{}
		if n.Mode == ContainerNetwork {
			joined[specs.NetworkNamespace] = "/proc/7/ns/net"
		}
		if s := cfg.Spec("/d", "p/ID", joined).Linux.Sysctl; s != nil {
			t.Errorf("--network %s: sysctls %v", n.Mode, s)
		}
	}
}

// TestSharedShm: joining another container's IPC namespace binds its
// /dev/shm, through its first process's root.
func TestSharedShm(t *testing.T) {
	cfg := valid("web")
	cfg.IPC = "owner"
	spec := cfg.Spec("/d", "p/ID", map[specs.LinuxNamespaceType]string{specs.IPCNamespace: "/proc/42/ns/ipc"})
	for _, m := range spec.Mounts {
		if m.Destination == "/dev/shm" && (m.Type != "bind" || m.Source != "/proc/42/root/dev/shm") {
			t.Errorf("/dev/shm: %+v, want a bind of /proc/42/root/dev/shm", m)
		}
	}
}
