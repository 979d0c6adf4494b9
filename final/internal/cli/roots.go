package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"skiff/internal/safefile"
)

// openRoots makes the state root and the data root ready: folders that
// only root may enter, and a pair that belongs together.
func openRoots(root, dataRoot string) error {
	for _, dir := range []string{root, dataRoot} {
		if err := privateDir(dir); err != nil {
			return err
		}
	}
	if err := pair(filepath.Join(root, "data-root"), dataRoot, "--root", root); err != nil {
		return err
	}
	return pair(filepath.Join(dataRoot, "state-root"), root, "--data-root", dataRoot)
}

// privateDir makes dir, or tightens it, so that only root can enter it:
// containers' writable layers and the images' layers below it hold
// setuid-root binaries, which any host user could otherwise run, and
// device nodes. Docker keeps /var/lib/docker 0710 for the same reason.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if st.Uid != 0 {
		return fmt.Errorf("%s belongs to user %d: skiff keeps its files only in folders of root's", dir, st.Uid)
	}
	if st.Mode&0o077 != 0 {
		if err := unix.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("chmod 700 %s: %w", dir, err)
		}
	}
	return nil
}

// pair records in file which folder the root beside it is used with, the
// first time, and refuses another afterwards: two state roots on one data
// root would each sweep the other's network addresses and cgroups as
// leftovers.
func pair(file, other, flag, dir string) error {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		err = safefile.Create(file, []byte(other+"\n"), 0o600)
		if errors.Is(err, os.ErrExist) { // another skiff paired them meanwhile
			return pair(file, other, flag, dir)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	if used := strings.TrimSpace(string(data)); used != other {
		return fmt.Errorf("%s %s is used with %s, not %s: give both of the same pair (see %s)", flag, dir, used, other, file)
	}
	return nil
}
