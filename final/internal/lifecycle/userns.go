package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/container"
	"skiff/internal/image"
	"skiff/internal/oci"
)

// A container with --userns private runs in a user namespace of its own
// (container.UserNamespace): root inside is an unprivileged user of the
// host, the first ID of skiff's range. What it writes must belong to
// that user, and what it reads of the image must look like its own.

// userNSRoot prepares the root of a container in a user namespace: its
// writable layer and its own files (/etc/hosts...) belong to the mapped
// root; the image's layers, shared and owned by the host's root, are
// idmapped by the runtime (oci.CanIDMap) where their filesystem allows,
// and copied for the container with the mapped owners where not (tmpfs
// before Linux 6.3).
func (r *Runtime) userNSRoot(c *container.Container, spec *specs.Spec) error {
	u := c.Config.UserNS
	for _, name := range []string{"upper", "work", "hostname", "hosts", "resolv.conf"} {
		if err := os.Lchown(c.Path(name), u.UID, u.GID); err != nil {
			return err
		}
	}
	root := &spec.Mounts[0] // the overlay (container.Config.Spec)
	uids, gids := u.Maps()
	if len(c.Config.Layers) == 0 || oci.CanIDMap(c.Config.Layers[0], uids, gids) {
		root.UIDMappings, root.GIDMappings = uids, gids
		return nil
	}
	copies, err := copyLayers(c)
	if err != nil {
		return err
	}
	for i, o := range root.Options {
		if strings.HasPrefix(o, "lowerdir=") {
			root.Options[i] = container.LowerDir(copies)
		}
	}
	return nil
}

// copyLayers copies the image's layers into the container's folder
// (layers/N), once: a copy is made aside and renamed into place, and a
// later start finds it.
func copyLayers(c *container.Container) ([]string, error) {
	u := c.Config.UserNS
	owners := image.Owners{UID: u.UID, GID: u.GID, Size: u.Size}
	if err := os.MkdirAll(c.Path("layers"), 0o700); err != nil {
		return nil, err
	}
	var copies []string
	for i, layer := range c.Config.Layers {
		dst := c.Path("layers/" + strconv.Itoa(i))
		copies = append(copies, dst)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		tmp := dst + ".tmp"
		os.RemoveAll(tmp)
		if err := os.Mkdir(tmp, 0o755); err != nil {
			return nil, err
		}
		if err := image.CopyLayer(layer, tmp, owners); err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
		if err := os.Rename(tmp, dst); err != nil {
			return nil, err
		}
	}
	return copies, nil
}

// joinUserNamespace adds to joined the user namespace of the containers
// c joins (a pod's): a container in a private user namespace shares it
// with the namespaces it joins, which it would not own otherwise. Modes
// must match, and so must the ranges.
func joinUserNamespace(c *container.Container, others []*container.Container, joined map[specs.LinuxNamespaceType]string) error {
	mine := c.Config.UserNS
	for _, other := range others {
		theirs := other.Config.UserNS
		switch {
		case (mine == nil) != (theirs == nil):
			return fmt.Errorf("cannot join the namespaces of container %s: one of the two runs with --userns private, the other not", other.Config.Name)
		case mine == nil:
			continue
		case *mine != *theirs:
			return fmt.Errorf("cannot join the namespaces of container %s: it maps other IDs (%+v)", other.Config.Name, *theirs)
		}
		path := container.JoinPath(other.State.Pid, specs.UserNamespace)
		if prev, ok := joined[specs.UserNamespace]; ok && !sameFile(prev, path) {
			return errors.New("the containers joined have user namespaces of their own: join the namespaces of one")
		}
		joined[specs.UserNamespace] = path
	}
	return nil
}

// sameFile tells whether two namespace paths name one namespace.
func sameFile(a, b string) bool {
	x, errA := os.Stat(a)
	y, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(x, y)
}
