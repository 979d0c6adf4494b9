// Package rootfs builds a container's mount table from the mounts of its
// OCI runtime spec, from inside its new mount namespace: the root (skiff's
// overlay of image layers, lesson 06, or a bundle's rootfs folder), then
// each mount in order (/proc, /sys, /dev, volumes, the init layer's
// files), the device nodes, pivot_root (lesson 04), and the hardening a
// real runtime adds: masked and read-only paths, a read-only root.
package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/nsenter"
)

// MakePrivate stops mount events from propagating to the host. It must
// come before any mount: on systemd hosts every mount is shared.
func MakePrivate() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("mount --make-rprivate /: %w", err)
	}
	return nil
}

// MountRoot makes root a mount point, as pivot_root needs, and returns
// it and the mounts still to make. A first mount at "/" is skiff's
// extension of the spec: the root is that mount (the overlay of an
// image's layers, made here, inside the container's mount namespace,
// never on the host). Otherwise root, a bundle's rootfs folder, is
// bind-mounted onto itself.
func MountRoot(root string, mounts []specs.Mount) (string, []specs.Mount, error) {
	if len(mounts) > 0 && mounts[0].Destination == "/" {
		m := mounts[0]
		o := parseOptions(m.Options)
		if err := unix.Mount(m.Source, root, m.Type, o.flags, o.data); err != nil {
			return "", nil, fmt.Errorf("mount -t %s %s: %w", m.Type, root, err)
		}
		return root, mounts[1:], nil
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return "", nil, fmt.Errorf("mount --rbind %s %s: %w", root, root, err)
	}
	return root, mounts, nil
}

// Mount makes one of the spec's mounts at its place under root. We are
// still in the host's root here: a symlink on the way is refused, as it
// could point the mount at the host's files. A relative source of a bind
// mount is relative to the bundle.
func Mount(root, bundle string, m specs.Mount) error {
	target, err := SecureJoin(root, m.Destination)
	if err != nil {
		return err
	}
	o := parseOptions(m.Options)
	if IsBind(m) {
		return bindMount(bundle, target, m, o)
	}
	if m.Type == "cgroup" || m.Type == "cgroup2" {
		return mountCgroup(target, o)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	err = unix.Mount(m.Source, target, m.Type, o.flags, o.data)
	if m.Type == "sysfs" && err == unix.EPERM {
		return bindSys(bundle, target, m)
	}
	if err != nil {
		return fmt.Errorf("mount -t %s %s: %w", m.Type, m.Destination, err)
	}
	return o.propagate(target)
}

// bindSys is /sys for a container in a user namespace without a network
// namespace of its own: the kernel lets only a namespace that owns the
// network namespace mount a sysfs (it shows that namespace's devices), so
// the host's /sys is bound instead, with the same options, as runc does.
func bindSys(bundle, target string, m specs.Mount) error {
	m.Source, m.Options = "/sys", append(slices.Clone(m.Options), "rbind")
	return bindMount(bundle, target, m, parseOptions(m.Options))
}

// IsBind tells whether m binds a file or folder: its type, or an
// option, says so.
func IsBind(m specs.Mount) bool {
	return m.Type == "bind" || parseOptions(m.Options).flags&unix.MS_BIND != 0
}

// bindMount binds a host file or folder, then applies the options a bind
// mount ignores when it is made (ro, nosuid, nodev, noexec).
func bindMount(bundle, target string, m specs.Mount, o options) error {
	source := m.Source
	if !filepath.IsAbs(source) {
		source = filepath.Join(bundle, source)
	}
	if err := makeMountPoint(source, target); err != nil {
		return err
	}
	if _, _, ok := inProcessRoot(source); ok {
		tree, err := cloneTree(source, o.flags&unix.MS_REC != 0)
		if err != nil {
			return err
		}
		defer unix.Close(tree)
		if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("move_mount %s %s: %w", m.Source, m.Destination, err)
		}
	} else if err := unix.Mount(source, target, "", o.flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return fmt.Errorf("mount --bind %s %s: %w", m.Source, m.Destination, err)
	}
	return setBindOptions(target, m, o)
}

// procRoot is a path in another process's root, /proc/PID/root/PATH:
// another container's /dev/shm, for --ipc container:NAME.
var procRoot = regexp.MustCompile(`^/proc/([0-9]+)/root(/.*)$`)

// inProcessRoot splits a path in another process's root into the
// process and the path there.
func inProcessRoot(source string) (pid int, path string, ok bool) {
	m := procRoot.FindStringSubmatch(filepath.Clean(source))
	if m == nil {
		return 0, "", false
	}
	pid, err := strconv.Atoi(m[1])
	return pid, m[2], err == nil
}

// cloneTree makes a detached copy of the mount at source (open_tree(2)),
// with the mounts below it if recursive. A mount of another mount
// namespace, reached through /proc/PID/root, cannot be bound or cloned
// from this one (EINVAL): the copy is made on a thread that joins PID's
// mount namespace, where the path also resolves in that process's root,
// absolute symlinks included, never in this one's.
func cloneTree(source string, recursive bool) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	pid, path, ok := inProcessRoot(source)
	if !ok {
		fd, err := unix.OpenTree(unix.AT_FDCWD, source, flags)
		if err != nil {
			return -1, fmt.Errorf("open_tree %s: %w", source, err)
		}
		return fd, nil
	}
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		return -1, err
	}
	defer ns.Close()
	fd := -1
	err = nsenter.OnThread(func() error {
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare CLONE_FS: %w", err)
		}
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("setns %s: %w", ns.Name(), err)
		}
		var err error
		if fd, err = unix.OpenTree(unix.AT_FDCWD, path, flags); err != nil {
			return fmt.Errorf("open_tree %s in the mount namespace of PID %d: %w", path, pid, err)
		}
		return nil
	})
	return fd, err
}

// AttachMount is a bind mount made by the runtime: tree is a detached
// copy of the source (open_tree(2) with OPEN_TREE_CLONE), which
// move_mount(2) attaches at m's destination under root; then its
// options, as for a bind mount.
func AttachMount(root string, m specs.Mount, tree int) error {
	target, err := SecureJoin(root, m.Destination)
	if err != nil {
		return err
	}
	if err := makeMountPoint(fmt.Sprintf("/proc/self/fd/%d", tree), target); err != nil {
		return err
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount %s %s: %w", m.Source, m.Destination, err)
	}
	return setBindOptions(target, m, parseOptions(m.Options))
}

// setBindOptions applies a bind mount's options with mount_setattr(2),
// which also covers the mounts below an rbind and keeps its other flags
// (a second MS_REMOUNT|MS_BIND mount would reset them).
func setBindOptions(target string, m specs.Mount, o options) error {
	if o.attr != 0 {
		flags := 0
		if o.flags&unix.MS_REC != 0 {
			flags = unix.AT_RECURSIVE
		}
		attr := &unix.MountAttr{Attr_set: o.attr}
		if o.attr&(unix.MOUNT_ATTR_NOATIME|unix.MOUNT_ATTR_STRICTATIME) != 0 {
			attr.Attr_clr = unix.MOUNT_ATTR__ATIME // the atime modes are one field, cleared to be set
		}
		if err := unix.MountSetattr(unix.AT_FDCWD, target, uint(flags), attr); err != nil {
			return fmt.Errorf("mount_setattr %s: %w", m.Destination, err)
		}
	}
	return o.propagate(target)
}

// CloneForBind makes, for the runtime, the detached copy of a bind
// mount's source that AttachMount attaches: with the mounts below it for
// an rbind. A relative source is the bundle's.
func CloneForBind(bundle string, m specs.Mount) (*os.File, error) {
	source := m.Source
	if !filepath.IsAbs(source) {
		source = filepath.Join(bundle, source)
	}
	fd, err := cloneTree(source, parseOptions(m.Options).flags&unix.MS_REC != 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), source), nil
}

// mountCgroup gives the container /sys/fs/cgroup. With cgroup v2 it is
// the unified hierarchy, seen from the container's cgroup namespace when
// it has one; a v1 host's many hierarchies are left out (an empty,
// read-only tmpfs), as they would show the host's whole tree.
func mountCgroup(target string, o options) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	var fs unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		if err := unix.Mount("cgroup2", target, "cgroup2", o.flags, ""); err != nil {
			return fmt.Errorf("mount -t cgroup2 %s: %w", target, err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", o.flags|unix.MS_RDONLY, "size=0"); err != nil {
		return fmt.Errorf("mount -t tmpfs %s: %w", target, err)
	}
	return nil
}

// SecureJoin returns rootfs/path, refusing any symlink on the way.
func SecureJoin(rootfs, path string) (string, error) {
	target := rootfs
	for _, part := range strings.Split(strings.Trim(filepath.Clean("/"+path), "/"), "/") {
		if part == "" {
			continue
		}
		target = filepath.Join(target, part)
		if info, err := os.Lstat(target); err == nil && info.Mode()&os.ModeSymlink != 0 {
			return "", fmt.Errorf("mount point %s: %s is a symlink in the rootfs", path, strings.TrimPrefix(target, rootfs))
		}
	}
	return target, nil
}

func makeMountPoint(source, target string) error {
	info, err := os.Stat(source)
	if err != nil {
		return err
	}
	if info.IsDir() {
		return os.MkdirAll(target, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// PivotRoot makes rootfs the root of the mount namespace and detaches the
// old root: pivot_root(".", ".") stacks the old root on top of the new
// one, and unmounting "." takes it away, with no folder to create.
func PivotRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir %s: %w", rootfs, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("umount -l the old root: %w", err)
	}
	return unix.Chdir("/")
}

// MoveRoot is runc's --no-pivot, for a root pivot_root cannot leave
// (a ramdisk): the root is moved over / and chroot'ed into. The old root
// stays below it, reachable by anyone who can escape a chroot (lesson 01).
func MoveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir %s: %w", rootfs, err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("mount --move %s /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", rootfs, err)
	}
	return unix.Chdir("/")
}

// MaskPaths hides what the paths reveal of the host, once the container's
// root is the root: a file is covered with /dev/null, a folder with an
// empty read-only tmpfs. A path this kernel lacks is skipped.
func MaskPaths(paths []string) error {
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			continue
		}
		if info.IsDir() {
			err = unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY, "size=0")
		} else {
			err = unix.Mount("/dev/null", path, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", path, err)
		}
	}
	return nil
}

// ReadOnlyPaths can still be read, not written: the host's kernel
// tunables under /proc/sys, say.
func ReadOnlyPaths(paths []string) error {
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		if err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("mount --rbind %s: %w", path, err)
		}
		if err := makeReadOnly(path, true); err != nil {
			return err
		}
	}
	return nil
}

// MakeRootReadOnly is root.readonly (--read-only): the root mount only,
// not the mounts on it (volumes, /dev).
func MakeRootReadOnly() error { return makeReadOnly("/", false) }

// SetPropagation applies the spec's rootfsPropagation to the new root,
// within the container's mount namespace.
func SetPropagation(mode string) error {
	if mode == "" {
		return nil
	}
	flag, ok := propagation[mode]
	if !ok {
		return fmt.Errorf("rootfsPropagation %q: not a propagation mode", mode)
	}
	if err := unix.Mount("", "/", "", flag, ""); err != nil {
		return fmt.Errorf("mount --make-%s /: %w", mode, err)
	}
	return nil
}

// makeReadOnly makes a mount read-only with mount_setattr(2), which keeps
// its other flags and with recursive also covers the mounts below it.
func makeReadOnly(target string, recursive bool) error {
	flags := 0
	if recursive {
		flags = unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(unix.AT_FDCWD, target, uint(flags), attr); err != nil {
		return fmt.Errorf("mount_setattr %s read-only: %w", target, err)
	}
	return nil
}
