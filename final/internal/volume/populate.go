package volume

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/container"
	"skiff/internal/image"
	"skiff/internal/inroot"
	"skiff/internal/rootfs"
	"skiff/internal/safefile"
)

// OpenImage opens the root of an image, its layers merged, read-only:
// a layer alone is its folder, several are an overlay of them mounted
// detached (fsmount(2)), seen by no one but this descriptor, and gone
// when it is closed.
func OpenImage(layers []string) (*os.File, error) {
	switch len(layers) {
	case 0:
		return nil, errors.New("an image without layers")
	case 1:
		return os.OpenFile(layers[0], unix.O_PATH|unix.O_DIRECTORY, 0)
	}
	m := specs.Mount{Type: "overlay", Source: "overlay", Options: []string{"ro", "nodev", "nosuid", container.LowerDir(layers)}}
	return rootfs.DetachedOverlay(m, nil)
}

// Populate gives an empty volume, mounted for the first time at target
// in a container of the image whose root is img, the image's content
// there, as Docker does: the files of the folder, its owner and its
// mode. target is resolved inside the image (a symlink to /etc is the
// image's /etc), and its files are read through descriptors and written
// below mountpoint without following symlinks (package inroot). owners
// maps the image's owners to the host's: a container in a user namespace
// (--userns private) sees the copy as its own, and a volume with nothing
// to copy is given to the container's root. A volume that holds files
// already keeps them, and their owners. A nil img copies nothing
// (volume-nocopy).
func Populate(mountpoint string, img *os.File, target string, owners image.Owners) error {
	// Two containers starting on a new volume at once: one copies, the
	// other then finds it full.
	unlock, err := safefile.Lock(filepath.Join(filepath.Dir(mountpoint), "lock"), unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := os.OpenFile(mountpoint, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer data.Close()
	if names, _ := data.Readdirnames(1); len(names) > 0 {
		return nil
	}
	uid, gid := owners.ToHost(0, 0)
	if img == nil {
		return chown(data, uid, gid)
	}
	src, err := inroot.FollowLinks(img, target)
	var st unix.Stat_t
	if err == nil {
		st, err = inroot.Stat(img, src)
	}
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR { // nothing to copy
		return chown(data, uid, gid)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(inroot.WriteTar(pw, inroot.Side{Root: img}, src, ".", false)) }()
	err = inroot.Untar(pr, data, inroot.UntarOptions{Owner: owners.ToHost})
	pr.CloseWithError(errors.New("unpacking stopped"))
	if err != nil {
		return fmt.Errorf("copy the image's %s into the volume: %w", target, err)
	}
	uid, gid = owners.ToHost(int(st.Uid), int(st.Gid))
	if err := chown(data, uid, gid); err != nil {
		return err
	}
	return unix.Fchmod(int(data.Fd()), st.Mode&0o7777)
}

func chown(f *os.File, uid, gid int) error {
	if err := unix.Fchown(int(f.Fd()), uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", f.Name(), err)
	}
	return nil
}
