// Package rootfs builds a container's mount table from inside its new
// mount namespace: the overlay of its image (lesson 06), volumes and the
// init-layer files, pivot_root, then /proc, /sys and /dev (lesson 04), and
// the hardening a real runtime adds: masked and read-only /proc paths, and
// optionally a read-only root.
package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MakePrivate stops mount events from propagating to the host. It must
// come before any mount: on systemd hosts every mount is shared.
func MakePrivate() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("mount --make-rprivate /: %w", err)
	}
	return nil
}

// MountOverlay mounts the read-only layers (lowest first) under the
// container's writable layer at dir/merged, and returns that path. It is
// nodev: a device node that comes with an image (a char 1:11 is the host's
// /dev/kmsg, whatever its name) cannot be opened. Not nosuid: an image's
// setuid programs (su, ping) must work. The /dev that init mounts on top
// is a mount of its own, whose nodes work.
func MountOverlay(dir string, layers []string) (string, error) {
	merged := filepath.Join(dir, "merged")
	lower := slices.Clone(layers)
	slices.Reverse(lower) // overlayfs wants the topmost first
	options := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s",
		strings.Join(lower, ":"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_NODEV, options); err != nil {
		return "", fmt.Errorf("mount -t overlay %s: %w", merged, err)
	}
	return merged, nil
}

// MountVolume bind-mounts a host path at its place in the rootfs, read-only
// if its options say "ro". We are still in the host's root here: refuse a
// symlink on the way, which could point the mount at the host's files.
func MountVolume(rootfs string, m specs.Mount) error {
	target, err := SecureJoin(rootfs, m.Destination)
	if err != nil {
		return err
	}
	if err := makeMountPoint(m.Source, target); err != nil {
		return err
	}
	if err := unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mount --rbind %s %s: %w", m.Source, m.Destination, err)
	}
	if slices.Contains(m.Options, "ro") {
		return makeReadOnly(target, true)
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

// makeReadOnly makes a mount read-only with mount_setattr(2), which keeps
// its other flags (a second MS_REMOUNT|MS_BIND mount would reset them) and
// with recursive also covers the mounts below it.
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

// MountSystem mounts, inside the new root filesystem at root, /proc for
// the container's PID namespace, a read-only /sys and a minimal /dev. It
// comes before the volumes, so that a volume under /dev or /sys is
// mounted on top of them, not hidden beneath.
func MountSystem(root string) error {
	steps := []struct {
		source, target, fstype string
		flags                  uintptr
	}{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		{"sysfs", "/sys", "sysfs", unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
	}
	for _, m := range steps {
		target, err := SecureJoin(root, m.target)
		if err != nil {
			return err
		}
		if err := mount(m.source, target, m.fstype, m.flags, ""); err != nil {
			return err
		}
	}
	dev, err := SecureJoin(root, "/dev")
	if err != nil {
		return err
	}
	return mountDev(dev)
}

var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

var devLinks = map[string]string{
	"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "core": "/proc/kcore",
	"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
}

// mountDev makes dev a tmpfs with the few device nodes a container may
// use (its cgroup's device allowlist lets it use no others), devpts,
// shm and mqueue.
func mountDev(dev string) error {
	if err := mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=65536k"); err != nil {
		return err
	}
	for _, d := range devices {
		path := filepath.Join(dev, d.name)
		if err := unix.Mknod(path, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o666); err != nil { // the umask took bits away
			return err
		}
	}
	for name, target := range devLinks {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			return err
		}
	}
	if err := mount("devpts", filepath.Join(dev, "pts"), "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return err
	}
	if err := mount("shm", filepath.Join(dev, "shm"), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return err
	}
	return mount("mqueue", filepath.Join(dev, "mqueue"), "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
}

// MaskedPaths hide host information and knobs in /proc, as Docker does:
// files are covered with /dev/null, folders with an empty read-only tmpfs.
var MaskedPaths = []string{
	"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi", "/proc/scsi", "/sys/firmware",
}

// ReadOnlyPaths can be read but not written: kernel tunables of the host.
var ReadOnlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

// MaskProc hides and write-protects what /proc and /sys reveal of the
// host, once the container's root is the root.
func MaskProc() error {
	for _, path := range MaskedPaths {
		info, err := os.Stat(path)
		if err != nil {
			continue // not on this kernel
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
	for _, path := range ReadOnlyPaths {
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

// MakeRootReadOnly is --read-only: the root mount, not the volumes or /dev.
func MakeRootReadOnly() error { return makeReadOnly("/", false) }

func mount(source, target, fstype string, flags uintptr, data string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount -t %s %s: %w", fstype, target, err)
	}
	return nil
}
