package rootfs

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultDevices are the nodes every container gets in its /dev, as the
// runtime spec requires; its cgroup's device allowlist lets it use no
// others unless the spec adds them.
var DefaultDevices = []specs.LinuxDevice{
	charDevice("/dev/null", 1, 3), charDevice("/dev/zero", 1, 5), charDevice("/dev/full", 1, 7),
	charDevice("/dev/random", 1, 8), charDevice("/dev/urandom", 1, 9), charDevice("/dev/tty", 5, 0),
}

func charDevice(path string, major, minor int64) specs.LinuxDevice {
	mode := os.FileMode(0o666)
	return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: &mode}
}

var devLinks = map[string]string{
	"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "core": "/proc/kcore",
	"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
}

// CreateDevices makes the default device nodes and the spec's own in the
// container's /dev (under root, before pivot_root), and the usual links.
// It is for a /dev the runtime mounted (a tmpfs), not one bound from the
// host. With bind (in a user namespace, where mknod(2) of a device is
// refused, and a tmpfs mounted there cannot hold usable nodes anyway),
// each device is the host's node at the same path, bind-mounted onto an
// empty file, as runc does: its owner and mode are the host's.
func CreateDevices(root string, extra []specs.LinuxDevice, bind bool) error {
	for _, d := range append(DefaultDevices, extra...) {
		create := makeDevice
		if bind && d.Type != "p" { // a FIFO needs no privilege
			create = bindDevice
		}
		if err := create(root, d); err != nil {
			return err
		}
	}
	for name, target := range devLinks {
		link := filepath.Join(root, "dev", name)
		if err := os.Symlink(target, link); err != nil && !os.IsExist(err) {
			return fmt.Errorf("symlink %s: %w", link, err)
		}
	}
	return nil
}

// bindDevice binds the host's node d.Path at its place under root.
func bindDevice(root string, d specs.LinuxDevice) error {
	path, err := SecureJoin(root, d.Path)
	if err != nil {
		return err
	}
	if err := makeMountPoint(d.Path, path); err != nil {
		return fmt.Errorf("device %s: %w", d.Path, err)
	}
	if err := unix.Mount(d.Path, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("mount --bind %s: %w", d.Path, err)
	}
	return nil
}

func makeDevice(root string, d specs.LinuxDevice) error {
	path, err := SecureJoin(root, d.Path)
	if err != nil {
		return err
	}
	kinds := map[string]uint32{"c": unix.S_IFCHR, "u": unix.S_IFCHR, "b": unix.S_IFBLK, "p": unix.S_IFIFO}
	kind, ok := kinds[d.Type]
	if !ok {
		return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
	}
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	os.Remove(path) // the spec's entry replaces a default one
	if err := unix.Mknod(path, kind|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return fmt.Errorf("mknod %s: %w", d.Path, err)
	}
	if err := unix.Chmod(path, mode); err != nil { // the umask took bits away
		return fmt.Errorf("chmod %s: %w", d.Path, err)
	}
	uid, gid := uint32(0), uint32(0)
	if d.UID != nil {
		uid = *d.UID
	}
	if d.GID != nil {
		gid = *d.GID
	}
	if uid != 0 || gid != 0 {
		if err := unix.Lchown(path, int(uid), int(gid)); err != nil {
			return fmt.Errorf("chown %s: %w", d.Path, err)
		}
	}
	return nil
}
