package main

// An image is a stack of read-only layers; a container adds one writable
// layer on top. overlayfs merges them into one tree:
//
//	merged/    what the container sees, and its new root
//	upper/     the container's layer: every file it creates or changes
//	work/      overlayfs's scratch space, on the same filesystem as upper/
//	lowerdir   the read-only layers: --layer DIRs above ROOTFS
//
// Reading a file finds it in the topmost layer that has it. Writing to a
// file of a lower layer first copies it up into upper/. Deleting one
// leaves a "whiteout" in upper/ (a 0/0 character device) that hides it.

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// containersDir holds one folder per container with its overlay folders.
const containersDir = "/var/lib/containers-from-scratch"

// checkLayers checks the rootfs and the --layer folders, and returns them
// as absolute paths, which is how overlayfs wants them.
func checkLayers(rootfs string, layers []string) (string, []string, error) {
	var abs []string
	for _, dir := range append([]string{rootfs}, layers...) {
		if err := checkRootfs(dir); err != nil {
			return "", nil, err
		}
		// ":" separates layers and "," mount options in overlay's options.
		if strings.ContainsAny(dir, ":,") {
			return "", nil, fmt.Errorf("layer %s: overlay cannot take a path with ':' or ','", dir)
		}
		path, err := filepath.Abs(dir)
		if err != nil {
			return "", nil, err
		}
		abs = append(abs, path)
	}
	return abs[0], abs[1:], nil
}

// newContainerDir makes the folders for one container's overlay.
func newContainerDir(id string) (string, error) {
	dir := filepath.Join(containersDir, id)
	for _, sub := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("mkdir %s: %w", dir, err)
		}
	}
	return dir, nil
}

// removeContainerDir removes the container's folders, and the folder of
// all containers when it was the last.
func removeContainerDir(dir string) {
	os.RemoveAll(dir)
	os.Remove(containersDir)
}

// keepUpperLayer removes all but the container's writable layer, and says
// where it is: a tar of it is what `docker commit` makes into a new layer.
func keepUpperLayer(dir string) {
	os.RemoveAll(filepath.Join(dir, "work"))
	os.RemoveAll(filepath.Join(dir, "merged"))
	fmt.Fprintf(os.Stderr, "%s: kept the container's layer at %s\n", filepath.Base(os.Args[0]), filepath.Join(dir, "upper"))
}

// mountOverlay mounts the layers at dir/merged and returns that path, the
// container's rootfs from now on. The mount is made inside the container's
// mount namespace, so it goes away with the container.
//
//exercise:06 mount an overlay on dir/merged with lowerdir (overlayLowerdir), upperdir dir/upper and workdir
//exercise:06 dir/work, and return dir/merged; see "An image is a stack of layers"
func mountOverlay(dir, image string, layers []string) (string, error) {
	merged := filepath.Join(dir, "merged")
	options := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s",
		overlayLowerdir(image, layers), filepath.Join(dir, "upper"), filepath.Join(dir, "work"))
	if err := unix.Mount("overlay", merged, "overlay", 0, options); err != nil {
		return "", fmt.Errorf("mount -t overlay -o %s %s: %w", options, merged, err)
	}
	return merged, nil
}

// overlayLowerdir lists the read-only layers the way overlayfs wants them:
// the topmost first, the image's rootfs last.
//
//exercise:06 join the image and the layers with ":", the topmost layer first and the image last; see "An
//exercise:06 image is a stack of layers"
func overlayLowerdir(image string, layers []string) string {
	stack := append([]string{image}, layers...) // lowest first
	slices.Reverse(stack)
	return strings.Join(stack, ":")
}
