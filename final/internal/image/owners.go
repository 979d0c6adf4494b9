package image

import (
	"errors"
	"fmt"
	"io"
)

// Owners maps the owners of files between a container in a user
// namespace and the host: the container's user n is the host's UID+n,
// its group n the host's GID+n, for n below Size. The zero value maps
// nothing. An ID outside the range is nobody (65534), either way: the
// kernel shows a file whose owner a user namespace does not map as
// nobody's too.
type Owners struct {
	UID, GID, Size int
	// KeepOthers keeps the host's IDs outside the range as they are when
	// mapping to the container's, instead of making them nobody: an
	// export reads the image's layers, which the host's root owns, beside
	// the container's own files, which the range's IDs own.
	KeepOthers bool
}

const nobody = 65534

// toHost maps a container's owner to the host's.
func (o Owners) toHost(uid, gid int) (int, int) {
	if o.Size == 0 {
		return uid, gid
	}
	return o.shift(uid, o.UID), o.shift(gid, o.GID)
}

// toContainer maps a host's owner to the container's.
func (o Owners) toContainer(uid, gid int) (int, int) {
	if o.Size == 0 {
		return uid, gid
	}
	return o.back(uid, o.UID), o.back(gid, o.GID)
}

func (o Owners) back(id, base int) int {
	if o.KeepOthers && (id < base || id-base >= o.Size) {
		return id
	}
	return o.shift(id-base, 0)
}

func (o Owners) shift(id, base int) int {
	if id < 0 || id >= o.Size {
		return nobody
	}
	return base + id
}

// CopyLayer copies the layer folder src into dst, an empty folder, its
// files owned by the host's IDs that owners maps the container's to: the
// layers of a container in a user namespace where the filesystem cannot
// give them that owner with an idmapped mount. It goes through a tar, as
// commit does, which keeps whiteouts and opaque folders.
func CopyLayer(src, dst string, owners Owners) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, src, nil, Owners{})) }()
	err := untar(pr, dst, owners)
	pr.CloseWithError(errors.New("unpacking stopped"))
	if err != nil {
		return fmt.Errorf("copy the layer %s: %w", src, err)
	}
	return nil
}
