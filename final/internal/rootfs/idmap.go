package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/nsenter"
)

// A container in a user namespace cannot mount skiff's overlay of an
// image's layers itself: overlayfs mounted inside a user namespace reads
// only user.* xattrs, not the trusted.overlay.opaque of the layers'
// opaque folders, and the layers belong to the host's root, nobody to
// the namespace. So the runtime, the host's root, mounts it, as a
// detached mount (fsmount(2)) that init attaches as its root.
//
// The layers are shared by every container, and stay as they are on
// disk, owned by the host's root. In an idmapped mount of a layer
// (mount_setattr(2) with MOUNT_ATTR_IDMAP and a user namespace, Linux
// 5.12), the files the host's root owns are the namespace's root's, UID
// 100000, and so on through the map; overlayfs takes idmapped layers
// since Linux 5.19. The filesystem must allow it too: ext4, xfs and btrfs
// do since 5.12, tmpfs since 6.3.

// DetachedOverlay mounts m, an overlay, as a detached mount. With userns,
// each of its lower folders is replaced first by an idmapped mount of
// itself, on a thread with a mount namespace of its own: the host never
// sees them, and the overlay keeps private copies of them after the
// thread, and its namespace, are gone.
func DetachedOverlay(m specs.Mount, userns *os.File) (*os.File, error) {
	var root *os.File
	err := nsenter.OnThread(func() (err error) {
		root, err = detachedOverlay(m, userns)
		return err
	})
	return root, err
}

func detachedOverlay(m specs.Mount, userns *os.File) (*os.File, error) {
	o := parseOptions(m.Options)
	if userns != nil {
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			return nil, fmt.Errorf("unshare CLONE_NEWNS: %w", err)
		}
		if err := MakePrivate(); err != nil {
			return nil, err
		}
		for _, dir := range lowerDirs(o.data) {
			if err := idmapOnItself(dir, userns); err != nil {
				return nil, err
			}
		}
	}
	fs, err := unix.Fsopen(m.Type, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen %s: %w", m.Type, err)
	}
	defer unix.Close(fs)
	for _, kv := range strings.Split(o.data, ",") {
		if key, value, ok := strings.Cut(kv, "="); ok {
			err = unix.FsconfigSetString(fs, key, value)
		} else if kv != "" {
			err = unix.FsconfigSetFlag(fs, kv)
		}
		if err != nil {
			return nil, fmt.Errorf("fsconfig %s %s: %w", m.Type, kv, err)
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		if userns != nil && errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("mount -t %s with idmapped layers: %w: overlayfs takes them since Linux 5.19", m.Type, err)
		}
		return nil, fmt.Errorf("mount -t %s: %w", m.Type, err)
	}
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, int(o.attr))
	if err != nil {
		return nil, fmt.Errorf("fsmount %s: %w", m.Type, err)
	}
	return os.NewFile(uintptr(fd), m.Type), nil
}

// lowerDirs are the folders of an overlay's lowerdir option.
func lowerDirs(data string) []string {
	for _, kv := range strings.Split(data, ",") {
		if v, ok := strings.CutPrefix(kv, "lowerdir="); ok {
			return strings.Split(v, ":")
		}
	}
	return nil
}

// idmapOnItself covers dir with an idmapped mount of itself.
func idmapOnItself(dir string, userns *os.File) error {
	tree, err := idmapped(dir, userns)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, dir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount %s: %w", dir, err)
	}
	return nil
}

// idmapped makes a detached mount of dir, idmapped by userns.
func idmapped(dir string, userns *os.File) (int, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", dir, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(tree)
		return -1, fmt.Errorf("mount_setattr %s MOUNT_ATTR_IDMAP: %w", dir, err)
	}
	return tree, nil
}

// CanIDMap tells whether the filesystem of dir takes idmapped mounts:
// it makes one, and drops it.
func CanIDMap(dir string, userns *os.File) bool {
	tree, err := idmapped(dir, userns)
	if err == nil {
		unix.Close(tree)
	}
	return err == nil
}
