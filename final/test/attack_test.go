//go:build vmtest

package test

import (
	_ "embed"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/attack"
)

// These tests run the attack suite, skiff-attack (package attack): in
// lesson 01's chroot (in the VM only: its escapes are real), where
// nearly everything escapes, which shows that the suite sees escapes;
// under skiff run's settings; and under runc's default spec, with
// skiff-runtime and, where runc is installed (this host, not the VM),
// with runc. Each run's table must be the expected one, row by row, and
// the tables are logged as Markdown tables for the chapter.

// expected maps an attempt to its expected line: "BLOCKED EPERM" (the
// verdict and the code), or the verdict alone when the code may vary.
type expected map[string]string

// inChroot is lesson 01's jail: a chroot, as root with every capability.
// Everything escapes but a user namespace, which the kernel refuses to a
// process whose root is not its mount namespace's.
var inChroot = expected{
	"chroot-escape":  "ESCAPED new-root",
	"proc-kcore":     "ESCAPED read",
	"sysrq-trigger":  "ESCAPED wrote",
	"proc-sys-write": "ESCAPED wrote",
	"sys-write":      "ESCAPED wrote",
	"mknod-disk":     "ESCAPED", // read, or ENXIO where there is no such disk (the VM)
	"mount":          "ESCAPED mounted",
	"set-clock":      "ESCAPED set",
	"load-module":    "ESCAPED ENOEXEC",
	"keyring":        "ESCAPED key-added",
	"nested-userns":  "BLOCKED EPERM", // the kernel refuses a user namespace to a chrooted process
	"swapoff":        "ESCAPED EISDIR",
	"dev-mem":        "ESCAPED read",
	"image-devnode":  "ESCAPED wrote",
	"setuid-exec":    "SKIPPED root",
	"host-pids":      "ESCAPED visible",
	"ptrace-host":    "ESCAPED seized",
	"raw-socket":     "ESCAPED socket",
	"open-by-handle": "ESCAPED opened",
	"dmesg":          "ESCAPED read",
	"bpf":            "ESCAPED map",
	"kexec":          "ESCAPED EINVAL",
}

// confined is what a container that keeps root but none of the
// dangerous capabilities, and has no seccomp filter, sees: runc's default
// spec. The keyrings and nested user namespaces are open to it.
var confined = expected{
	"chroot-escape":  "BLOCKED same-root",
	"proc-kcore":     "BLOCKED masked",
	"sysrq-trigger":  "BLOCKED EROFS",
	"proc-sys-write": "BLOCKED EROFS",
	"sys-write":      "BLOCKED EROFS",
	"mknod-disk":     "BLOCKED EPERM",
	"mount":          "BLOCKED EPERM",
	"set-clock":      "BLOCKED EPERM",
	"load-module":    "BLOCKED EPERM",
	"keyring":        "ESCAPED key-added",
	"nested-userns":  "ESCAPED userns",
	"swapoff":        "BLOCKED EPERM",
	"dev-mem":        "BLOCKED EPERM",
	"image-devnode":  "BLOCKED EACCES",
	"setuid-exec":    "SKIPPED root",
	"host-pids":      "BLOCKED not-visible",
	"ptrace-host":    "BLOCKED not-visible",
	"raw-socket":     "BLOCKED EPERM",
	"open-by-handle": "BLOCKED EPERM",
	"dmesg":          "BLOCKED EPERM",
	"bpf":            "BLOCKED EPERM",
	"kexec":          "BLOCKED EPERM",
}

// filtered is confined under skiff's default seccomp profile, which
// refuses add_key and keyctl, and unshare or clone of namespaces, to a
// container without CAP_SYS_ADMIN: every attempt is blocked.
var filtered = with(confined, expected{"keyring": "BLOCKED EPERM", "nested-userns": "BLOCKED EPERM"})

// asUser1000 is what changes when the container's user is not root: no
// capabilities at all, and the host's files in /proc and /sys are not
// its to write; but a setuid-root program makes it root again.
var asUser1000 = expected{
	"sysrq-trigger":  "BLOCKED EACCES",
	"proc-sys-write": "BLOCKED EACCES",
	"mknod-disk":     "BLOCKED EACCES", // /dev is root's
	"dev-mem":        "BLOCKED EACCES",
	"chroot-escape":  "BLOCKED EPERM",
	"setuid-exec":    "ESCAPED euid-0",
}

// attackMode is one way of running a container under skiff run.
type attackMode struct {
	heading string   // the column's heading in the logged table
	flags   []string // skiff run's flags
	seccomp bool     // whether the container has a seccomp filter
	want    expected
}

var attackModes = []attackMode{
	{heading: "skiff run", seccomp: true, want: filtered},
	{heading: "skiff run -u 1000", flags: []string{"-u", "1000:1000"}, seccomp: true, want: with(filtered, asUser1000)},
	{
		heading: "skiff run -u 1000 --security-opt no-new-privileges",
		flags:   []string{"-u", "1000:1000", "--security-opt", "no-new-privileges"},
		seccomp: true,
		want:    with(with(filtered, asUser1000), expected{"setuid-exec": "BLOCKED no_new_privs"}),
	},
	{
		// Docker's --privileged: every capability, no masked or
		// read-only path, every device, no seccomp.
		heading: "skiff run --privileged",
		flags:   []string{"--privileged"},
		want: with(inChroot, expected{
			"chroot-escape": "BLOCKED same-root", // pivot_root still
			"nested-userns": "ESCAPED userns",
			"image-devnode": "BLOCKED EACCES", // the root overlay stays nodev
			"host-pids":     "BLOCKED not-visible",
			"ptrace-host":   "BLOCKED not-visible",
		}),
	},
	{
		// Root inside is an unprivileged user outside: the host's files
		// are not its own, and capabilities count in its namespaces only.
		heading: "skiff run --userns private",
		flags:   []string{"--userns", "private"},
		seccomp: true,
		want: with(filtered, expected{
			"sysrq-trigger":  "BLOCKED EACCES",
			"proc-sys-write": "BLOCKED EACCES",
			"sys-write":      "BLOCKED",
		}),
	},
}

// onThisKernel is want on this machine's kernel: one without /proc/kcore,
// SysRq, modules or kexec (such as this project's development host)
// answers ENOENT or ENOSYS before any setting of the runtime matters.
func onThisKernel(want expected) expected {
	missing := expected{}
	for _, k := range []struct{ path, attack, row string }{
		{"/proc/kcore", "proc-kcore", "BLOCKED ENOENT"},
		{"/proc/sysrq-trigger", "sysrq-trigger", "BLOCKED ENOENT"},
		{"/proc/modules", "load-module", "BLOCKED ENOSYS"},
		{"/sys/kernel/kexec_loaded", "kexec", "BLOCKED ENOSYS"},
	} {
		if _, err := os.Stat(k.path); errors.Is(err, fs.ErrNotExist) {
			missing[k.attack] = k.row
		}
	}
	return with(want, missing)
}

// with is base with some rows changed.
func with(base, changes expected) expected {
	e := expected{}
	for k, v := range base {
		e[k] = v
	}
	for k, v := range changes {
		e[k] = v
	}
	return e
}

// TestAttack runs the suite under each of skiff run's modes.
func TestAttack(t *testing.T) {
	rootfs := attackRootfs(t)
	must(t, "import", rootfs, "attack")
	defer skiff(t, "rmi", "attack")
	var headings []string
	var tables []attack.Table
	if _, err := os.Stat("/vm/lesson.test"); err == nil {
		heading := "chroot (lesson 01)"
		out := chrootRun(t, rootfs)
		t.Logf("%s:\n%s", heading, out)
		table := parseAttacks(t, heading, out)
		checkAttacks(t, heading, table, inChroot)
		headings, tables = append(headings, heading), append(tables, table)
	} else {
		t.Log("chroot (lesson 01): not run, its escapes are real: in the VM only")
	}
	for _, mode := range attackModes {
		args := append(append([]string{"run", "--rm"}, mode.flags...), "attack", "/attack/skiff-attack")
		out := must(t, args...)
		t.Logf("skiff %s:\n%s", strings.Join(args, " "), out)
		table := parseAttacks(t, mode.heading, out)
		if on := table.Process["seccomp"] != "0"; on != mode.seccomp {
			t.Errorf("%s: the container's seccomp mode is %s, want a filter: %v", mode.heading, table.Process["seccomp"], mode.seccomp)
		}
		checkAttacks(t, mode.heading, table, mode.want)
		headings, tables = append(headings, mode.heading), append(tables, table)
	}
	t.Logf("the attack suite under skiff run:\n%s", attack.Markdown(headings, tables))
}

// TestCgroupAttackRuncSpec runs the suite under runc's default spec
// (testdata/runc-spec.json, written by `runc spec` of runc 1.1.5, Debian
// 12's, unchanged), as root and as user 1000, with skiff-runtime and,
// where runc is installed, runc. It is a TestCgroup* test so that make
// test runs it on this host too, where runc is; in the VM, which has no
// runc, it runs skiff-runtime only.
func TestCgroupAttackRuncSpec(t *testing.T) {
	rootfs := attackRootfs(t)
	runtimes := []string{"skiff-runtime"}
	if _, err := exec.LookPath("runc"); err == nil {
		runtimes = append(runtimes, "runc")
	} else {
		t.Log("runc is not installed here: skiff-runtime only")
	}
	// runc's spec keeps 3 capabilities (not CAP_SYS_CHROOT), does not
	// mount the root nodev (the device cgroup stops the image's node)
	// and sets no_new_privs (the setuid bit is ignored).
	runcSpec := expected{"chroot-escape": "BLOCKED EPERM", "image-devnode": "BLOCKED EPERM"}
	wants := map[uint32]expected{0: with(confined, runcSpec),
		1000: with(with(confined, asUser1000), with(runcSpec, expected{"setuid-exec": "BLOCKED no_new_privs"}))}
	var headings []string
	var tables []attack.Table
	for _, runtime := range runtimes {
		for _, uid := range []uint32{0, 1000} {
			heading := runtime + ", runc spec"
			if uid != 0 {
				heading += ", uid 1000"
			}
			dir := runcSpecBundle(t, rootfs, uid)
			var out string
			if runtime == "runc" {
				out = runcRun(t, dir, "attack")
			} else {
				out = runToEnd(t, newOCIRuntime(t), dir, "attack")
			}
			table := parseAttacks(t, heading, out)
			checkAttacks(t, heading, table, wants[uid])
			headings, tables = append(headings, heading), append(tables, table)
		}
	}
	t.Logf("the attack suite under runc's default spec:\n%s", attack.Markdown(headings, tables))
}

// chrootRun runs the suite as lesson 01 runs a command: chrooted into
// rootfs, with /proc, /sys and /dev mounted in it, as root with every
// capability, in a mount namespace of its own that takes those mounts
// away when it ends.
func chrootRun(t *testing.T, rootfs string) string {
	t.Helper()
	script := `mount -t proc proc "$1/proc" && mount -t sysfs sysfs "$1/sys" && mount -t devtmpfs devtmpfs "$1/dev" &&
exec chroot "$1" /attack/skiff-attack`
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", rootfs).CombinedOutput()
	if err != nil {
		t.Fatalf("skiff-attack in a chroot: %v\n%s", err, out)
	}
	return string(out)
}

// attackRootfs is the busybox rootfs with /attack: skiff-attack, a
// setuid-root copy of it (setuid-exec) and a device node, char 1:11, the
// host's /dev/kmsg (image-devnode).
func attackRootfs(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("skiff-attack")
	if err != nil {
		t.Fatalf("skiff-attack is not on PATH (make build builds it into bin/, and the VM needs bin/skiff-attack): %v", err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", os.Getenv("ROOTFS"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp rootfs: %v %s", err, out)
	}
	for _, c := range [][]string{
		{"mkdir", filepath.Join(dir, "attack")},
		{"cp", bin, filepath.Join(dir, "attack", "skiff-attack")},
		{"cp", bin, filepath.Join(dir, "attack", attack.SetuidCopy)},
		{"chmod", "4755", filepath.Join(dir, "attack", attack.SetuidCopy)},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	kmsg := filepath.Join(dir, "attack", "kmsg")
	if err := unix.Mknod(kmsg, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 11))); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(kmsg, 0o666); err != nil { // past the umask: anyone's to open
		t.Fatal(err)
	}
	return dir
}

// runcSpec is what `runc spec` writes (runc 1.1.5, Debian 12's), unchanged.
//
//go:embed testdata/runc-spec.json
var runcSpec []byte

// runcSpecBundle is a bundle of runc's default spec around a copy of
// rootfs, changed only where a test must: no terminal, skiff-attack as
// the command, and the user.
func runcSpecBundle(t *testing.T, rootfs string, uid uint32) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", rootfs, filepath.Join(dir, "rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("cp rootfs: %v %s", err, out)
	}
	var s specs.Spec
	if err := json.Unmarshal(runcSpec, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = []string{"/attack/skiff-attack"}
	s.Process.User = specs.User{UID: uid, GID: uid}
	data, _ := json.Marshal(&s)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runcRun runs the bundle with runc run, in a state folder of its own,
// and returns what the container wrote.
func runcRun(t *testing.T, dir, id string) string {
	t.Helper()
	state := t.TempDir()
	cmd := exec.Command("runc", "--root", state, "run", "--bundle", dir, id)
	out, err := cmd.CombinedOutput()
	exec.Command("runc", "--root", state, "delete", "--force", id).Run()
	if err != nil {
		t.Fatalf("runc run: %v\n%s", err, out)
	}
	return string(out)
}

func parseAttacks(t *testing.T, heading, out string) attack.Table {
	t.Helper()
	table, err := attack.Parse(out)
	if err != nil {
		t.Fatalf("%s: %v", heading, err)
	}
	return table
}

// checkAttacks compares a run's table with the expected one: every
// attempt must have an expected row, and every expected row a result.
func checkAttacks(t *testing.T, heading string, table attack.Table, want expected) {
	t.Helper()
	for _, r := range table.Results {
		if _, ok := want[r.Name]; !ok {
			t.Errorf("%s: %s: no expected row (got %s)", heading, r.Name, r)
		}
	}
	for name, line := range onThisKernel(want) {
		r, ok := table.Get(name)
		verdict, code, _ := strings.Cut(line, " ")
		switch {
		case !ok:
			t.Errorf("%s: %s: no result, want %s", heading, name, line)
		case string(r.Verdict) != verdict || code != "" && r.Code != code:
			t.Errorf("%s: %s: got %s %s (%s), want %s", heading, name, r.Verdict, r.Code, r.Detail, line)
		}
	}
}
