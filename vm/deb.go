package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
)

// extractDeb unpacks the files of a .deb into dir, as `dpkg-deb -x` does.
// dpkg-deb is used when the host has it (its xz is twice as fast); on hosts
// without it (Fedora, Arch), or with --no-apt, Go does it.
func extractDeb(deb, dir string) error {
	if _, err := exec.LookPath("dpkg-deb"); err == nil && !noApt {
		return run("dpkg-deb", "-x", deb, dir)
	}
	if err := unpackDeb(deb, dir); err != nil {
		return fmt.Errorf("unpacking %s: %w", deb, err)
	}
	return nil
}

// unpackDeb reads a .deb, an ar archive whose data.tar.* member holds the
// files, and writes them under dir through an os.Root, so that no entry
// (../x, or a path through a symbolic link the archive made) lands outside
// dir.
func unpackDeb(deb, dir string) error {
	f, err := os.Open(deb)
	if err != nil {
		return err
	}
	defer f.Close()
	member, data, err := findArMember(bufio.NewReader(f), "data.tar")
	if err != nil {
		return err
	}
	var r io.Reader
	switch path.Ext(member) {
	case ".xz":
		r, err = xz.NewReader(bufio.NewReaderSize(data, 1<<20))
	case ".gz":
		r, err = gzip.NewReader(data)
	case ".tar":
		r = data
	default:
		return fmt.Errorf("%s: unsupported compression (want .xz, .gz or none)", member)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", member, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return untar(tar.NewReader(r), root)
}

// findArMember returns the first member of the ar archive whose name starts
// with prefix, positioned at its data.
func findArMember(r io.Reader, prefix string) (string, io.Reader, error) {
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "!<arch>\n" {
		return "", nil, errors.New("not a .deb (no ar header)")
	}
	hdr := make([]byte, 60)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return "", nil, fmt.Errorf("no %s* member", prefix)
		}
		if string(hdr[58:60]) != "`\n" {
			return "", nil, errors.New("corrupt ar member header")
		}
		name := strings.TrimSuffix(strings.TrimSpace(string(hdr[:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return "", nil, fmt.Errorf("ar member %q: bad size", name)
		}
		if strings.HasPrefix(name, prefix) {
			return name, io.LimitReader(r, size), nil
		}
		if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
			return "", nil, fmt.Errorf("ar member %q: %w", name, err)
		}
	}
}

// untar writes directories, regular files, symbolic and hard links; device
// nodes and the like have no place in a kernel or busybox package and are
// skipped. Owners are not kept (dpkg-deb -x keeps them only as root).
func untar(tr *tar.Reader, root *os.Root) error {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || name == "/" {
			continue
		}
		name = strings.TrimPrefix(name, "/")
		mode := h.FileInfo().Mode().Perm()
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = root.MkdirAll(name, 0o755)
			if err == nil {
				err = root.Chmod(name, mode)
			}
		case tar.TypeReg:
			err = writeRootFile(root, name, mode, tr)
		case tar.TypeSymlink:
			err = root.Symlink(h.Linkname, name)
		case tar.TypeLink:
			err = root.Link(path.Clean(strings.TrimPrefix(h.Linkname, "./")), name)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
}

func writeRootFile(root *os.Root, name string, mode os.FileMode, r io.Reader) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return root.Chmod(name, mode) // the umask must not narrow it
}
