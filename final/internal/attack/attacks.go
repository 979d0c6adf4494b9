package attack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An Attack is one way out, tried by Try in a process of its own (Spawn):
// some attempts change the process (its root, its user) for good.
type Attack struct {
	Name  string
	About string // what it tries
	try   func() Result
}

// All are the attempts, in the order they run: those the chapters
// discuss, then a few more from the history of container escapes.
var All = []Attack{
	{"chroot-escape", "lesson 01's escape: chroot into a folder without entering it, then chdir .. up and out", chrootEscape},
	{"proc-kcore", "read /proc/kcore, the host's memory as an ELF core file", procKcore},
	{"sysrq-trigger", "write 'h' (help, harmless) to /proc/sysrq-trigger, the host's magic SysRq key", sysrqTrigger},
	{"proc-sys-write", "write /proc/sys/kernel/core_pattern (with its own value): a host-wide sysctl, a classic way out", procSysWrite},
	{"sys-write", "write a host-wide knob in /sys (with its own value): uevent_helper, ksm/run or transparent_hugepage", sysWrite},
	{"mknod-disk", "make a block node for the host's first disk in /dev, open it and read its first sector", mknodDisk},
	{"mount", "mount a tmpfs (CAP_SYS_ADMIN) and find it in mountinfo", mountTmpfs},
	{"set-clock", "set the host's clock (to the time it says: no change)", setClock},
	{"load-module", "load a kernel module (garbage bytes, refused after the permission check)", loadModule},
	{"keyring", "add a key to the user keyring, which is the host's user's (keyrings are not namespaced by mount or PID)", keyring},
	{"nested-userns", "create a user namespace, from a single-threaded child (clone), and mount a tmpfs in it", nestedUserns},
	{"swapoff", "swapoff / (a folder, not a swap area: refused after the permission check)", swapoff},
	{"dev-mem", "open and read /dev/mem, the host's physical memory (made with mknod if missing)", devMem},
	{"image-devnode", "open a device node that came with the image (outside /dev), write a line if it is /dev/kmsg", imageDevnode},
	{"setuid-exec", "as a user other than root, exec a setuid-root copy of this program and look at its euid", setuidExec},
	{"host-pids", "look for the host's processes in /proc (kernel threads show only in the host's PID namespace)", hostPids},
	{"ptrace-host", "PTRACE_SEIZE a host process, if one is visible", ptraceHost},
	{"raw-socket", "open a packet socket (AF_PACKET, SOCK_RAW): forge and sniff frames", rawSocket},
	{"open-by-handle", "open_by_handle_at, the 'shocker' escape of 2014 (CAP_DAC_READ_SEARCH)", openByHandle},
	{"dmesg", "read the host's kernel log with syslog(2)", dmesg},
	{"bpf", "create a BPF map (bpf(2) is the kernel's most exposed interface)", bpfMap},
	{"kexec", "kexec_load (with too many segments: refused after the permission check)", kexec},
}

// Find returns the attempt called name.
func Find(name string) (Attack, bool) {
	for _, a := range All {
		if a.Name == name {
			return a, true
		}
	}
	return Attack{}, false
}

// Try makes the attempt in this process.
func (a Attack) Try() Result {
	r := a.try()
	r.Name = a.Name
	return r
}

func result(v Verdict, code, format string, args ...any) Result {
	return Result{Verdict: v, Code: code, Detail: fmt.Sprintf(format, args...)}
}

// refused is a step the kernel refused: BLOCKED with its errno. An error
// without an errno means the attempt was not judged: ERROR.
func refused(step string, err error) Result {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return result(Blocked, errnoName(errno), "%s: %v", step, errno)
	}
	return result(Error, "-", "%s: %v", step, err)
}

func errnoName(errno unix.Errno) string {
	if name := unix.ErrnoName(errno); name != "" {
		return name
	}
	return fmt.Sprintf("errno%d", int(errno))
}

// pastTheCheck judges a call made to fail after the kernel's permission
// check, so that it does no harm if the check lets it through: EPERM is
// the check (or a lockdown) refusing, ENOSYS a kernel without the call;
// any other errno, or none, means the call went past the check.
func pastTheCheck(step string, err error, effect string) Result {
	var errno unix.Errno
	switch {
	case err == nil:
		return result(Escaped, "done", "%s: %s", step, effect)
	case errors.As(err, &errno) && (errno == unix.EPERM || errno == unix.EACCES || errno == unix.ENOSYS):
		return refused(step, err)
	case errors.As(err, &errno):
		return result(Escaped, errnoName(errno), "%s: %v, after the permission check: %s", step, errno, effect)
	}
	return refused(step, err)
}

// isDevNull says whether f is /dev/null: how runtimes mask a file.
func isDevNull(f *os.File) bool {
	var st unix.Stat_t
	return unix.Fstat(int(f.Fd()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == unix.Mkdev(1, 3)
}

// chrootEscape is lesson 01's escape: chroot into a folder while the
// working directory stays outside it, then walk up. The kernel stops a
// ".." walk at the process's root, which this walk never meets, or at
// the root of the mount namespace: after pivot_root, the container's.
func chrootEscape() Result {
	var before, after unix.Stat_t
	if err := unix.Stat("/", &before); err != nil {
		return refused("stat /", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return refused("chdir /", err)
	}
	// Any folder will do, and the root may be read-only: /dev is always there.
	if err := unix.Chroot("/dev"); err != nil {
		return refused("chroot /dev", err)
	}
	for range 64 {
		if err := unix.Chdir(".."); err != nil {
			return refused("chdir ..", err)
		}
	}
	if err := unix.Chroot("."); err != nil {
		return refused("chroot .", err)
	}
	if err := unix.Stat("/", &after); err != nil {
		return refused("stat / after the escape", err)
	}
	if after.Dev == before.Dev && after.Ino == before.Ino {
		return result(Blocked, "same-root", "chdir .. stopped where it started, at the root of the mount namespace (a container's, after pivot_root)")
	}
	entries, _ := os.ReadDir("/")
	var names []string
	for _, e := range entries[:min(len(entries), 8)] {
		names = append(names, "/"+e.Name())
	}
	return result(Escaped, "new-root", "reached another root: %s", strings.Join(names, " "))
}

func procKcore() Result {
	f, err := os.Open("/proc/kcore")
	if err != nil {
		return refused("open /proc/kcore", err)
	}
	defer f.Close()
	if isDevNull(f) {
		return result(Blocked, "masked", "/proc/kcore is /dev/null here")
	}
	header := make([]byte, 4)
	if _, err := io.ReadFull(f, header); err != nil {
		return refused("read /proc/kcore", err)
	}
	if string(header) != "\x7fELF" {
		return result(Blocked, "no-effect", "read %q, not an ELF header", header)
	}
	return result(Escaped, "read", "read the ELF header of the host's memory image")
}

// rewrite opens a file for writing and writes value into it: the write
// the kernel takes is the effect.
func rewrite(path, value string) Result {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return refused("open "+path, err)
	}
	defer f.Close()
	if isDevNull(f) {
		return result(Blocked, "masked", "%s is /dev/null here", path)
	}
	if _, err := f.WriteString(value); err != nil {
		return refused("write "+path, err)
	}
	return result(Escaped, "wrote", "wrote %q to %s", strings.TrimSpace(value), path)
}

func sysrqTrigger() Result {
	r := rewrite("/proc/sysrq-trigger", "h")
	if r.Verdict == Escaped {
		r.Detail += ": the host's kernel printed its SysRq help (b would have rebooted it)"
	}
	return r
}

func procSysWrite() Result {
	const path = "/proc/sys/kernel/core_pattern"
	value, err := os.ReadFile(path)
	if err != nil {
		return refused("read "+path, err)
	}
	r := rewrite(path, string(value))
	if r.Verdict == Escaped {
		r.Detail += " (its own value): with |/path, the host's kernel runs /path as root at the next crash"
	}
	return r
}

// sysKnobs are host-wide files in /sys, the first that exists is written.
var sysKnobs = []string{"/sys/kernel/uevent_helper", "/sys/kernel/mm/ksm/run", "/sys/kernel/mm/transparent_hugepage/enabled"}

func sysWrite() Result {
	for _, path := range sysKnobs {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return refused("read "+path, err)
		}
		r := rewrite(path, currentChoice(string(data)))
		if r.Verdict == Escaped {
			r.Detail += " (its own value), a host-wide setting"
		}
		return r
	}
	return result(Skipped, "no-knob", "none of %s exists", strings.Join(sysKnobs, ", "))
}

// currentChoice is the value a sysfs file holds, to be written back:
// "always [madvise] never" holds madvise.
func currentChoice(content string) string {
	if _, rest, ok := strings.Cut(content, "["); ok {
		if choice, _, ok := strings.Cut(rest, "]"); ok {
			return choice
		}
	}
	return strings.TrimSpace(content) + "\n"
}

// firstDisk is the first block device of /proc/partitions (which is not
// namespaced), or 8:0, the first SCSI disk, when there is none.
func firstDisk() (major, minor uint32, name string) {
	data, _ := os.ReadFile("/proc/partitions")
	for _, line := range strings.Split(string(data), "\n") {
		var blocks uint64
		if n, _ := fmt.Sscanf(line, "%d %d %d %s", &major, &minor, &blocks, &name); n == 4 {
			return major, minor, name
		}
	}
	return 8, 0, "sda, which /proc/partitions does not list"
}

func mknodDisk() Result {
	major, minor, name := firstDisk()
	const node = "/dev/.skiff-attack-disk"
	unix.Unlink(node)
	step := fmt.Sprintf("mknod %s b %d:%d (%s)", node, major, minor, name)
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil {
		return refused(step, err)
	}
	defer unix.Unlink(node)
	return openAndRead(node, step, 512)
}

// openAndRead opens a device node made by an attempt and reads from it.
// ENXIO or ENODEV mean that the runtime let the open through to a driver
// that has no such device: the node would work on a host with the device.
func openAndRead(node, what string, size int) Result {
	f, err := os.Open(node)
	var errno unix.Errno
	if errors.As(err, &errno) && (errno == unix.ENXIO || errno == unix.ENODEV) {
		return result(Escaped, errnoName(errno), "%s: made, and the open reached the driver, which has no such device here", what)
	}
	if err != nil {
		return refused(what+": open", err)
	}
	defer f.Close()
	n, err := f.Read(make([]byte, size))
	if err != nil && err != io.EOF {
		return refused(what+": read", err)
	}
	return result(Escaped, "read", "%s: opened, read %d bytes", what, n)
}

func mountTmpfs() Result {
	dir := firstDir("/mnt", "/tmp", "/dev")
	const source = "skiff-attack"
	if err := unix.Mount(source, dir, "tmpfs", 0, "size=4k"); err != nil {
		return refused("mount tmpfs on "+dir, err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if !mounted(source, dir) {
		return result(Error, "-", "mount tmpfs on %s returned 0, and mountinfo does not show it", dir)
	}
	return result(Escaped, "mounted", "mounted a tmpfs on %s", dir)
}

// mounted says whether mountinfo has a mount of source on dir.
func mounted(source, dir string) bool {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(data), "\n") {
		before, after, ok := strings.Cut(line, " - ")
		fields, rest := strings.Fields(before), strings.Fields(after)
		if ok && len(fields) > 4 && len(rest) > 1 && fields[4] == dir && rest[1] == source {
			return true
		}
	}
	return false
}

func firstDir(dirs ...string) string {
	for _, d := range dirs {
		if info, err := os.Stat(d); err == nil && info.IsDir() {
			return d
		}
	}
	return dirs[len(dirs)-1]
}

func setClock() Result {
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &now); err != nil {
		return refused("clock_gettime", err)
	}
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &now); err != nil {
		return refused("clock_settime CLOCK_REALTIME", err)
	}
	return result(Escaped, "set", "set the host's clock (to what it said, a few microseconds back): time is not namespaced")
}

func loadModule() Result {
	err := unix.InitModule([]byte("skiff-attack: this is not a kernel module"), "")
	return pastTheCheck("init_module", err, "the kernel read the bytes as a module (CAP_SYS_MODULE): a real module would run in the host's kernel")
}

// keyring adds a key to the user keyring. Keyrings are the kernel's, not
// a namespace's: a user's keyring is the same inside a container and on
// the host unless a user namespace separates them. The key is unlinked
// at once: that takes write permission on the keyring, which its user
// has, where reading or invalidating the key takes possessing it, which
// a process with a session keyring of its own (runc's containers) does
// not.
func keyring() Result {
	ring, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_USER_KEYRING, 1, 0, 0)
	if err != nil {
		return refused("keyctl get_keyring_id @u", err)
	}
	id, err := unix.AddKey("user", "skiff-attack", []byte("skiff-attack"), ring)
	if err != nil {
		return refused("add_key user skiff-attack @u", err)
	}
	desc, describeErr := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
	if _, err := unix.KeyctlInt(unix.KEYCTL_UNLINK, id, ring, 0, 0); err != nil {
		return result(Escaped, "key-added", "key %d added to uid %d's user keyring %d, and LEFT THERE: unlink: %v", id, os.Getuid(), ring, err)
	}
	if describeErr != nil {
		return refused(fmt.Sprintf("keyctl describe %d", id), describeErr)
	}
	if !strings.HasSuffix(desc, ";skiff-attack") {
		return result(Error, "-", "key %d is %q, not the key added", id, desc)
	}
	return result(Escaped, "key-added", "key %d (%s) in uid %d's user keyring, shared with that uid outside unless a user namespace separates them (then unlinked)",
		id, desc, os.Getuid())
}

// nestedUserns clones a child into a new user and mount namespace, as
// `unshare -Urm` does. Go's runtime is multithreaded, and
// unshare(CLONE_NEWUSER) refuses a multithreaded caller with EINVAL,
// which would hide the real answer; clone makes a new process, which is
// single-threaded. The child's root is this process's user, the one
// mapping a user may write without CAP_SETUID: as root in its namespace,
// it keeps every capability across exec. The child (this program,
// ProbeUserns) reports them and mounts a tmpfs.
//
// Mapping the host's uid 0 also takes CAP_SETFCAP (Linux 5.12): without
// it, the mapping fails and not the clone, so the clone is tried again
// without a mapping, which tells whether the kernel makes the namespace.
func nestedUserns() Result {
	out, err := cloneUserns(true)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return result(Escaped, "userns", "a user namespace of its own, root in it: %s", out)
	case errors.As(err, &exitErr):
		return result(Error, "-", "the child in a new user namespace failed: %v: %s", err, out)
	}
	mapErr := err
	out, err = cloneUserns(false)
	switch {
	case errors.As(err, &exitErr):
		return result(Error, "-", "the child in a new user namespace failed: %v: %s", err, out)
	case err != nil:
		return refused("clone CLONE_NEWUSER|CLONE_NEWNS", err)
	}
	var errno unix.Errno
	errors.As(mapErr, &errno)
	return result(Escaped, "userns", "a user namespace of its own, where its uid_map was refused (%v): %s", errno, out)
}

// cloneUserns runs ProbeUserns in a new user and mount namespace, as
// root in it if mapRoot, and returns what it printed, or its stderr.
func cloneUserns(mapRoot bool) (string, error) {
	cmd := exec.Command("/proc/self/exe", ProbeFlag, "userns")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}
	if mapRoot {
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return strings.TrimSpace(stderr.String()), err
	}
	return strings.TrimSpace(string(out)), nil
}

// ProbeUserns runs in nestedUserns's child: its effective capabilities,
// and a tmpfs mounted in the mount namespace that its user namespace owns.
func ProbeUserns() string {
	mount := "mounted a tmpfs"
	dir := firstDir("/mnt", "/tmp", "/dev")
	if err := unix.Mount("skiff-attack", dir, "tmpfs", 0, "size=4k"); err != nil {
		mount = "mount tmpfs: " + err.Error()
	} else if !mounted("skiff-attack", dir) {
		mount = "mount tmpfs returned 0, but mountinfo does not show it"
	}
	return fmt.Sprintf("CapEff %s in it, %s", Self()["capeff"], mount)
}

func swapoff() Result {
	path, _ := unix.BytePtrFromString("/")
	_, _, errno := unix.Syscall(unix.SYS_SWAPOFF, uintptr(unsafe.Pointer(path)), 0, 0)
	return pastTheCheck("swapoff /", errnoOrNil(errno), "the kernel looked for a swap area (CAP_SYS_ADMIN): it would have turned the host's swap off")
}

func errnoOrNil(errno unix.Errno) error {
	if errno == 0 {
		return nil
	}
	return errno
}

func devMem() Result {
	const what = "/dev/mem, the host's physical memory"
	if _, err := os.Stat("/dev/mem"); err == nil {
		return openAndRead("/dev/mem", what, 16)
	}
	const node = "/dev/.skiff-attack-mem"
	unix.Unlink(node)
	if err := unix.Mknod(node, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 1))); err != nil {
		return refused("no /dev/mem; mknod "+node+" c 1:1", err)
	}
	defer unix.Unlink(node)
	return openAndRead(node, "mknod "+node+" c 1:1, "+what, 16)
}

// imageDevnode looks for device nodes outside /dev, /proc and /sys (in
// the image, or a volume) and opens them. /dev/kmsg (1:11) is opened for
// writing and gets a line: that is the attack, and reading it takes
// CAP_SYSLOG, which would hide the answer; other nodes are opened for
// reading, without blocking.
func imageDevnode() Result {
	nodes := findNodes("/", 5)
	if len(nodes) == 0 {
		return result(Skipped, "no-node", "no device node outside /dev, /proc and /sys")
	}
	var first Result
	for i, node := range nodes {
		r := openNode(node)
		if r.Verdict == Escaped {
			return r
		}
		if i == 0 {
			first = r
		}
	}
	return first
}

// findNodes returns up to limit device nodes under root, but in /dev,
// /proc and /sys.
func findNodes(root string, limit int) []string {
	var nodes []string
	seen := 0
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		seen++
		switch {
		case err != nil:
			return nil
		case path == "/dev" || path == "/proc" || path == "/sys":
			return filepath.SkipDir
		case d.Type()&os.ModeDevice != 0:
			nodes = append(nodes, path)
		}
		if len(nodes) == limit || seen > 100000 {
			return filepath.SkipAll
		}
		return nil
	})
	return nodes
}

func openNode(node string) Result {
	var st unix.Stat_t
	if err := unix.Stat(node, &st); err != nil {
		return refused("stat "+node, err)
	}
	kind := map[uint32]string{unix.S_IFCHR: "c", unix.S_IFBLK: "b"}[st.Mode&unix.S_IFMT]
	what := fmt.Sprintf("%s (%s %d:%d)", node, kind, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	if kind == "c" && st.Rdev == unix.Mkdev(1, 11) {
		f, err := os.OpenFile(node, os.O_WRONLY, 0)
		if err != nil {
			return refused("open "+what+" for writing", err)
		}
		defer f.Close()
		if _, err := f.WriteString("<6>skiff-attack: this line comes from a device node in a container's image\n"); err != nil {
			return refused("write "+what, err)
		}
		return result(Escaped, "wrote", "wrote a line into the host's kernel log through %s", what)
	}
	fd, err := unix.Open(node, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return refused("open "+what, err)
	}
	unix.Close(fd)
	return result(Escaped, "opened", "opened %s", what)
}

// SetuidCopy is the name of the setuid-root copy of this program that
// setuidExec looks for beside it.
const SetuidCopy = "skiff-attack-setuid"

func setuidExec() Result {
	if os.Geteuid() == 0 {
		return result(Skipped, "root", "already root: run as another user (-u 1000) to try")
	}
	self, err := os.Executable()
	if err != nil {
		return refused("find this program", err)
	}
	path := filepath.Join(filepath.Dir(self), SetuidCopy)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_ISUID == 0 || st.Uid != 0 {
		return result(Skipped, "no-copy", "no setuid-root %s beside %s", SetuidCopy, self)
	}
	out, err := exec.Command(path, ProbeFlag, "ids").Output()
	if err != nil {
		return refused("exec "+path, err)
	}
	var ruid, euid int
	if _, err := fmt.Sscan(string(out), &ruid, &euid); err != nil {
		return result(Error, "-", "%s printed %q", path, out)
	}
	if euid == 0 {
		return result(Escaped, "euid-0", "uid %d ran setuid-root %s and got euid 0", ruid, path)
	}
	var fs unix.Statfs_t
	switch {
	case Self()["no_new_privs"] == "1":
		return result(Blocked, "no_new_privs", "%s ran with euid %d: no_new_privs ignores the setuid bit", path, euid)
	case unix.Statfs(path, &fs) == nil && fs.Flags&unix.ST_NOSUID != 0:
		return result(Blocked, "nosuid", "%s ran with euid %d: its file system is mounted nosuid", path, euid)
	}
	return result(Blocked, "no-effect", "%s ran with euid %d", path, euid)
}

// ProbeIDs runs in setuidExec's setuid child: its real and effective uid.
func ProbeIDs() string { return fmt.Sprintf("%d %d", os.Getuid(), os.Geteuid()) }

// pfKthread marks a kernel thread in /proc/PID/stat's flags.
const pfKthread = 0x00200000

// processes lists the visible processes and the kernel threads among
// them. Kernel threads belong to the host's PID namespace only: seeing
// one means seeing the host's processes.
func processes() (all, kthreads []int) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || fmt.Sprint(pid) != e.Name() {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		all = append(all, pid)
		// pid (comm) state ppid pgrp session tty tpgid flags...: comm
		// may hold spaces and parentheses, the last ')' ends it.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		var flags uint64
		if len(fields) > 6 {
			fmt.Sscan(fields[6], &flags)
		}
		if flags&pfKthread != 0 {
			kthreads = append(kthreads, pid)
		}
	}
	return all, kthreads
}

func hostPids() Result {
	all, kthreads := processes()
	if len(kthreads) == 0 {
		return result(Blocked, "not-visible", "sees %d processes, no kernel thread: a PID namespace of its own", len(all))
	}
	return result(Escaped, "visible", "sees %d processes, %d of them kernel threads: the host's PID namespace", len(all), len(kthreads))
}

// hostProcess is a host process to trace: the host's init, PID 1, when
// the host's processes are visible.
func hostProcess() (int, bool) {
	_, kthreads := processes()
	return 1, len(kthreads) > 0 && os.Getpid() != 1
}

// ptraceHost seizes a host process: PTRACE_SEIZE, unlike ATTACH, does
// not stop it, and the tracer's exit (this process's, right after)
// detaches it.
func ptraceHost() Result {
	pid, ok := hostProcess()
	if !ok {
		return result(Blocked, "not-visible", "no host process is visible (a PID namespace of its own)")
	}
	if err := unix.PtraceSeize(pid); err != nil {
		return refused(fmt.Sprintf("PTRACE_SEIZE host PID %d", pid), err)
	}
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return result(Escaped, "seized", "traces host PID %d (%s): it could read and write its memory", pid, strings.TrimSpace(string(comm)))
}

func rawSocket() Result {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return refused("socket AF_PACKET SOCK_RAW", err)
	}
	unix.Close(fd)
	return result(Escaped, "socket", "a packet socket (CAP_NET_RAW): it can sniff and forge frames, ARP included, on the links of its network namespace")
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openByHandle is the 'shocker' attack on Docker 0.x: open_by_handle_at
// opens a file by its handle (inode and generation) on any mount the
// caller has a descriptor of, wherever the file is: with a handle
// guessed for the host's root, from a file bind-mounted from the host.
// It needs CAP_DAC_READ_SEARCH. The handle is a real one, from
// name_to_handle_at, which needs nothing.
func openByHandle() Result {
	for _, path := range []string{"/etc/hostname", "/etc/hosts", "/dev", "/"} {
		handle, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
		if err != nil {
			continue
		}
		mountFd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		defer unix.Close(mountFd)
		fd, err := unix.OpenByHandleAt(mountFd, handle, unix.O_RDONLY|unix.O_CLOEXEC)
		if err != nil {
			return refused("open_by_handle_at "+path, err)
		}
		unix.Close(fd)
		return result(Escaped, "opened", "opened %s by its handle: any file of that file system opens the same way, from guessed handles", path)
	}
	return result(Skipped, "no-handle", "name_to_handle_at gave no handle for /etc/hostname, /etc/hosts, /dev or /")
}

func dmesg() Result {
	buf := make([]byte, 1<<16)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return refused("syslog SYSLOG_ACTION_READ_ALL", err)
	}
	return result(Escaped, "read", "read %d bytes of the host's kernel log (the kernel log is not namespaced)", n)
}

// bpfMapAttr is the start of union bpf_attr for BPF_MAP_CREATE: an array
// of one 4-byte value; the rest is zero.
type bpfMapAttr struct {
	mapType, keySize, valueSize, maxEntries uint32
	rest                                    [16]uint32
}

func bpfMap() Result {
	attr := bpfMapAttr{mapType: unix.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_MAP_CREATE, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if errno != 0 {
		return refused("bpf BPF_MAP_CREATE", errno)
	}
	unix.Close(int(fd))
	return result(Escaped, "map", "created a BPF map: the verifier and the rest of bpf(2) are open to it")
}

func kexec() Result {
	_, _, errno := unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, unix.KEXEC_SEGMENT_MAX+1, 0, unix.KEXEC_ARCH_DEFAULT, 0, 0)
	return pastTheCheck("kexec_load", errnoOrNil(errno), "the kernel checked the segments (CAP_SYS_BOOT): a real kernel image would replace the host's at the next kexec")
}
