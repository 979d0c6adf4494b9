package initproc

import (
	"errors"
	"fmt"
	"os"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/rootfs"
)

// In a user namespace, init runs as the namespace's root: an
// unprivileged user of the host (UID 100000, say), who cannot walk the
// host's paths when a folder on the way is root's alone (a 0700
// temporary folder with the bundle, the runtime's state folder, a
// volume's). So the runtime, the host's root, does the walking and hands
// init what it needs as file descriptors, Held, among its extra files:
//
//   - the start FIFO, opened O_PATH and reopened through /proc/self/fd;
//   - the bind mounts' sources as detached mounts (open_tree(2)), which
//     init attaches with move_mount(2): a descriptor for a file opened in
//     the host's mount namespace cannot be bind-mounted from another;
//   - the root folder as init's working folder, which the runtime sets on
//     the thread that forks it: init clones it with the mounts below and
//     attaches the clone on top, its bind mount onto itself without a path;
//   - or, for skiff's overlay at "/", the overlay, mounted by the runtime
//     (rootfs.DetachedOverlay), which init attaches there.
type Held struct {
	Fifo int `json:"fifo"`
	Root int `json:"root"` // the detached root mount, or -1
	// Sources are, for each of the spec's mounts, the detached copy of a
	// bind mount's source, or -1.
	Sources []int `json:"sources"`
}

// fdPath names what descriptor fd holds.
func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// mountRoot is rootfs.MountRoot in a user namespace: the root folder,
// the working folder, is cloned (open_tree(2)), or the runtime mounted
// the root, and that is attached on top of it (move_mount(2)); root is
// then named by its descriptor.
func (h *Held) mountRoot(_ string, mounts []specs.Mount) (string, []specs.Mount, error) {
	if len(mounts) != len(h.Sources) {
		return "", nil, errors.New("the runtime held the sources of other mounts")
	}
	tree, err := h.Root, error(nil)
	if tree >= 0 {
		if len(mounts) == 0 || mounts[0].Destination != "/" {
			return "", nil, errors.New("the runtime mounted a root the spec does not have")
		}
		mounts, h.Sources = mounts[1:], h.Sources[1:]
	} else if tree, err = unix.OpenTree(unix.AT_FDCWD, ".", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE); err != nil {
		return "", nil, fmt.Errorf("open_tree the root: %w", err)
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, ".", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return "", nil, fmt.Errorf("move_mount the root: %w", err)
	}
	return fdPath(tree), mounts, nil
}

// mount makes the spec's mount i: a held source is attached.
func (h *Held) mount(root, bundle string, i int, m specs.Mount) error {
	if h != nil && h.Sources[i] >= 0 {
		return rootfs.AttachMount(root, m, h.Sources[i])
	}
	return rootfs.Mount(root, bundle, m)
}

// Hold is the runtime's side: it opens the start FIFO and copies the bind
// mounts' sources, to pass to init as extra files in this order, the
// first as descriptor number first; root, if not nil, is the root the
// runtime mounted, passed along too.
func Hold(fifo string, root *os.File, bundle string, mounts []specs.Mount, first int) (*Held, []*os.File, error) {
	gate, err := os.OpenFile(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	files := []*os.File{gate}
	h := &Held{Fifo: first, Root: -1}
	if root != nil {
		h.Root = first + len(files)
		files = append(files, root)
	}
	for _, m := range mounts {
		fd := -1
		if err == nil && rootfs.IsBind(m) {
			var tree *os.File
			if tree, err = rootfs.CloneForBind(bundle, m); err == nil {
				fd = first + len(files)
				files = append(files, tree)
			}
		}
		h.Sources = append(h.Sources, fd)
	}
	if err != nil {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, err
	}
	return h, files, nil
}

// HasUserNamespace tells whether the spec gives the container a user
// namespace, new or joined.
func HasUserNamespace(spec *specs.Spec) bool {
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			return true
		}
	}
	return false
}
