package inroot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"skiff/internal/image"
)

// A Side is one end of a copy: a root (a container's, or the host's
// "/") and how its owners map to the tar's.
type Side struct {
	Root   *os.File
	Owners image.Owners // the container's user namespace; zero for the host
}

// WriteTar writes p, inside the source's root, to w as a tar whose
// first entry is named rel, and what it holds if it is a folder. With
// follow, p's last name is followed while it is a symlink (cp -L).
func WriteTar(w io.Writer, src Side, p, rel string, follow bool) error {
	if follow {
		var err error
		if p, err = FollowLinks(src.Root, p); err != nil {
			return err
		}
	}
	dir, base, err := OpenParent(src.Root, p)
	if err != nil {
		return err
	}
	defer dir.Close()
	return image.WriteTarOf(w, dir, base, rel, src.Owners)
}

// CopyOptions are cp's.
type CopyOptions struct {
	Follow bool // -L: follow the source's symlink
	Untar  UntarOptions
}

// Copy copies src, a path inside from's root, to dst inside to's root,
// as `docker cp` does:
//
//   - a file onto a missing path makes it, onto a file replaces it, and
//     into a folder adds it there under its name;
//   - a folder onto a missing path makes it with the same content, into
//     a folder adds it there under its name, or only its content if src
//     ends in "/.";
//   - a destination that ends in "/" must be a folder.
//
// A symlink src is copied as a symlink, unless opts.Follow or src ends
// in "/". It goes through a tar, written from descriptors of the source's
// folders (WriteTar) and unpacked in the destination's root (Untar).
func Copy(from Side, src string, to Side, dst string, opts CopyOptions) error {
	srcPath := src
	// "dir/" and "dir/." name what a symlink dir points to, as in POSIX.
	if opts.Follow || strings.HasSuffix(src, "/") || strings.HasSuffix(src, "/.") {
		var err error
		if srcPath, err = FollowLinks(from.Root, src); err != nil {
			return err
		}
	}
	st, err := Lstat(from.Root, srcPath)
	if err != nil {
		return fmt.Errorf("no source %s: %w", src, unwrapPath(err))
	}
	srcIsDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	into, rel, err := destination(to.Root, dst, src, srcIsDir)
	if err != nil {
		return err
	}
	dest, err := Open(to.Root, into, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("destination %s: %w", into, unwrapPath(err))
	}
	defer dest.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteTar(pw, from, srcPath, rel, false)) }()
	err = Untar(pr, dest, opts.Untar)
	pr.CloseWithError(errors.New("unpacking stopped"))
	return err
}

// destination is the folder a copy of src unpacks into, inside root,
// and the name it gets there ("." for a folder's content).
func destination(root *os.File, dst, src string, srcIsDir bool) (into, rel string, err error) {
	name := path.Base(Clean(src))
	contentOnly := srcIsDir && (strings.HasSuffix(src, "/.") || Clean(src) == "/")
	st, err := Stat(root, dst)
	switch {
	case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
		if contentOnly {
			return dst, ".", nil
		}
		return dst, name, nil
	case err == nil && srcIsDir:
		return "", "", fmt.Errorf("cannot copy the folder %s onto the file %s", src, dst)
	case err == nil:
		return path.Dir(Clean(dst)), path.Base(Clean(dst)), nil
	case !errors.Is(err, unix.ENOENT):
		return "", "", fmt.Errorf("destination %s: %w", dst, unwrapPath(err))
	case strings.HasSuffix(dst, "/") && !srcIsDir:
		return "", "", fmt.Errorf("destination folder %s does not exist", dst)
	}
	parent := path.Dir(Clean(dst))
	if st, err := Stat(root, parent); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", "", fmt.Errorf("destination %s: its folder %s does not exist", dst, parent)
	}
	return parent, path.Base(Clean(dst)), nil
}

// unwrapPath drops the path of a PathError: the message names it already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
