package image

import (
	"archive/tar"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// What `skiff cp` shares with layers: the tar writer that reads a live
// container's files through descriptors, and the checks on a hostile
// tar's headers.

// WriteTarOf writes the file name of the open folder dir (the folder
// itself for ".") to w as the tar entry rel, and what it holds if it is a
// folder, reading every file through its folder's descriptor as writeTar
// does: a running container may swap a folder for a symlink meanwhile,
// and nothing outside dir is read. owners maps the host's owners to the
// container's. Other filesystems mounted below are left out.
func WriteTarOf(w io.Writer, dir *os.File, name, rel string, owners Owners) error {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("lstat %s: %w", name, err)
	}
	t := &tarWriter{tw: tar.NewWriter(w), dev: st.Dev, links: map[uint64]string{}, skip: map[string]bool{}, owners: owners}
	if err := t.add(dir, dir.Name(), name, rel); err != nil {
		return err
	}
	return t.tw.Close()
}

// CheckTarEntry checks a tar header as unpacking a layer does (a name
// that stays inside, owners and device numbers the kernel takes as they
// are) and returns the entry's path relative to where it is unpacked.
func CheckTarEntry(hdr *tar.Header) (string, error) {
	rel, err := cleanPath(hdr.Name)
	if err == nil {
		err = checkHeader(hdr)
	}
	return rel, err
}

// ToHost maps a container's owner to the host's.
func (o Owners) ToHost(uid, gid int) (int, int) { return o.toHost(uid, gid) }

// NextEntry is the tar's next file, past the global headers (pax's
// defaults for the whole archive, no file of their own); io.EOF at the
// end.
func NextEntry(tr *tar.Reader) (*tar.Header, error) {
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		if hdr.Typeflag != tar.TypeXGlobalHeader {
			return hdr, nil
		}
	}
}
