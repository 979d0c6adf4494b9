package clients

import (
	"slices"
	"testing"
)

// TestShimSocket checks the name against one that containerd 1.6.20's
// shim made here, for the container t2 of namespace skiffclients1 of the
// containerd at /tmp/exp/containerd.sock.
func TestShimSocket(t *testing.T) {
	got := shimSocket("/tmp/exp/containerd.sock", "skiffclients1", "t2")
	if want := "/run/containerd/s/ef53b81a8a39520f8001228b8ea24160907b96b7e8ebc4703482c8019b5f955d"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestFlag(t *testing.T) {
	args := []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "ns", "-id", "x", "-address"}
	if got := flag(args, "-id"); got != "x" {
		t.Errorf("-id: %q", got)
	}
	if got := flag(args, "-address"); got != "" {
		t.Errorf("-address without a value: %q", got)
	}
}

func TestLeftCgroups(t *testing.T) {
	dirs := []string{
		"/sys/fs/cgroup/memory/p/a", "/sys/fs/cgroup/cpu/p/a", "/sys/fs/cgroup/memory/p", "/sys/fs/cgroup/cpu/p",
		"/sys/fs/cgroup/unified/p-docker/b", "/sys/fs/cgroup/unified/p-docker",
	}
	got := leftCgroups(dirs, "/p", "/p-docker")
	want := []string{"cgroup /p-docker/b (unified)", "cgroup /p/a (cpu,memory)"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
