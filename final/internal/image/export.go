package image

import "io"

// WriteTree writes the folder dir to w as a tar, as docker export writes
// a container's filesystem: the same tar a commit makes of a folder
// (stable, hardened against a tree that changes as it is read, one
// filesystem only), its owners mapped to the container's by owners.
func WriteTree(w io.Writer, dir string, owners Owners) error {
	return writeTar(w, dir, nil, owners)
}
