//go:build vmtest

package test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// The TestCgroupDevice* tests: which device nodes a container can use.
// A char node 1:11 is /dev/kmsg, the host's kernel log, whatever its name:
// one that comes with an image is dead because the root overlay is nodev
// (EACCES), one in a volume is stopped by the cgroup's device allowlist
// (EPERM), and the usual /dev still works.

// openNode is a shell line that opens node for writing, and says so.
// Writing is the attack (into the host's kernel log); and opening
// /dev/kmsg for reading takes CAP_SYSLOG when kernel.dmesg_restrict is
// set, which would fail whatever the cgroup says.
func openNode(node string) string { return "exec 3>" + node + " && echo opened " + node }

// tarWithNodes is the busybox rootfs as a tar, with device nodes added:
// rootfsTar's archive without its end (two zero blocks), then the nodes.
func tarWithNodes(t *testing.T, nodes ...*tar.Header) []byte {
	archive := rootfsTar(t, nil)
	var buf bytes.Buffer
	buf.Write(archive[:len(archive)-2*512])
	tw := tar.NewWriter(&buf)
	for _, hdr := range nodes {
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestCgroupDeviceNodesInImage(t *testing.T) {
	mounts := hostMounts(t)
	file := filepath.Join(t.TempDir(), "nodes.tar")
	data := tarWithNodes(t,
		&tar.Header{Name: "kmsg", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 11},
		&tar.Header{Name: "disk", Typeflag: tar.TypeBlock, Mode: 0o666, Devmajor: 7, Devminor: 0},
	)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, "import", file, "with-nodes")
	defer skiff(t, "rmi", "with-nodes")
	for _, node := range []string{"/kmsg", "/disk"} {
		r := skiff(t, "run", "--rm", "with-nodes", "sh", "-c", openNode(node))
		t.Logf("open %s from the image: %s", node, strings.TrimSpace(r.stderr))
		if strings.Contains(r.stdout, "opened") || !strings.Contains(r.stderr, "Permission denied") {
			t.Errorf("open %s from the image: status %d, stdout %q, stderr %q; want Permission denied (a nodev root)",
				node, r.status, r.stdout, r.stderr)
		}
	}
	// nodev, but not nosuid: an image's setuid programs keep working.
	for _, line := range strings.Split(must(t, "run", "--rm", "busybox", "cat", "/proc/self/mountinfo"), "\n") {
		if fields := strings.Fields(line); len(fields) > 5 && fields[4] == "/" {
			if options := fields[5]; !strings.Contains(options, "nodev") || strings.Contains(options, "nosuid") {
				t.Errorf("the container's root is mounted %s, want nodev and not nosuid", options)
			}
		}
	}
	assertNothingLeft(t, mounts)
}

func TestCgroupDeviceNodesInVolume(t *testing.T) {
	dir := t.TempDir()
	for name, dev := range map[string]uint64{"kmsg": unix.Mkdev(1, 11), "null": unix.Mkdev(1, 3)} {
		if err := unix.Mknod(filepath.Join(dir, name), unix.S_IFCHR|0o666, int(dev)); err != nil {
			t.Fatal(err)
		}
	}
	// A volume is not nodev: the allowlist is what stops /vol/kmsg and
	// lets /vol/null, in the same folder, through.
	script := "echo x >/vol/null && echo null works; " + openNode("/vol/kmsg")
	check := func(how string, r result) {
		t.Helper()
		t.Logf("%s: open /vol/kmsg: %s", how, strings.TrimSpace(r.stderr))
		if !strings.Contains(r.stdout, "null works") || strings.Contains(r.stdout, "opened") ||
			!strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("%s: status %d, stdout %q, stderr %q; want /vol/null to work and /vol/kmsg to fail with Operation not permitted",
				how, r.status, r.stdout, r.stderr)
		}
	}
	check("run", skiff(t, "run", "--rm", "-v", dir+":/vol", "busybox", "sh", "-c", script))
	detached(t, "devvol", "-v", dir+":/vol", "busybox", "sleep", "100")
	check("exec", skiff(t, "exec", "devvol", "sh", "-c", script))
}

// TestCgroupDeviceAllowlist: the allowlist is in the container's cgroup
// (v1: devices.list; v2: a device program attached), the usual devices
// work, and everything goes with the container, the program included.
func TestCgroupDeviceAllowlist(t *testing.T) {
	mounts := hostMounts(t)
	detached(t, "devlist", "busybox", "sleep", "100")
	info := inspect(t, "devlist")
	var programs []ebpf.ProgramID
	if len(info.Cgroup) == 1 { // v2
		programs = devicePrograms(t, info.Cgroup[0])
		if len(programs) != 1 {
			t.Fatalf("%s has %d device programs attached, want 1", info.Cgroup[0], len(programs))
		}
	} else {
		assertDevicesList(t, info)
	}

	script := strings.Join([]string{
		"echo x >/dev/null && echo null",
		"head -c 3 /dev/zero | wc -c",
		"head -c 3 /dev/full | wc -c",
		"head -c 3 /dev/urandom | wc -c",
		"exec 3</dev/random && echo random",
		"exec 4<>/dev/ptmx && echo ptmx",
	}, "; ")
	if out := must(t, "exec", "devlist", "sh", "-c", script); out != "null\n3\n3\n3\nrandom\nptmx\n" {
		t.Errorf("the usual devices in the container:\n%s", out)
	}
	c, cmd := startConsole(t, "run", "-t", "--rm", "busybox", "sh", "-c", "echo through-tty >/dev/tty && tty")
	c.expect("through-tty", 20*time.Second)
	c.expect("/dev/pts/", 10*time.Second)
	cmd.Wait()

	must(t, "rm", "-f", "devlist")
	assertNothingLeft(t, mounts) // every hierarchy's cgroup, devices too on v1
	// The cgroup held the only reference to its program: the kernel frees
	// the program once it has freed the cgroup, a moment after rmdir.
	for _, id := range programs {
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, err := ebpf.NewProgramFromID(id)
			if errors.Is(err, os.ErrNotExist) {
				break
			}
			if err == nil {
				p.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("device program %d is still loaded after its cgroup went (%v)", id, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// devicePrograms lists the BPF device programs attached to a v2 cgroup.
func devicePrograms(t *testing.T, dir string) []ebpf.ProgramID {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		t.Fatalf("query the device programs of %s: %v", dir, err)
	}
	var ids []ebpf.ProgramID
	for _, p := range r.Programs {
		prog, err := ebpf.NewProgramFromID(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if pi, err := prog.Info(); err != nil || pi.Type != ebpf.CGroupDevice {
			t.Errorf("program %d: %v, type %v", p.ID, err, pi.Type)
		}
		prog.Close()
		ids = append(ids, p.ID)
	}
	return ids
}

// assertDevicesList checks, on v1, that the container's process is in
// its cgroup of the devices hierarchy and that the cgroup allows exactly
// Docker's default list.
func assertDevicesList(t *testing.T, info info) {
	t.Helper()
	want := "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:1 rwm\nc 5:2 rwm\nc 136:* rwm\n"
	dir := filepath.Join("/sys/fs/cgroup/devices", cgroupParent(), info.ID)
	if got := readFile(t, filepath.Join(dir, "devices.list")); got != want {
		t.Errorf("%s/devices.list:\n%s\nwant:\n%s", dir, got, want)
	}
	cgroup := readFile(t, "/proc/"+strconv.Itoa(info.State.Pid)+"/cgroup")
	if !strings.Contains(cgroup, ":devices:/"+cgroupParent()+"/"+info.ID+"\n") {
		t.Errorf("the container's process is not in its devices cgroup:\n%s", cgroup)
	}
}
