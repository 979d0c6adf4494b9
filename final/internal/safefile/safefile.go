// Package safefile is how skiff writes and locks its bookkeeping on disk:
// the containers', the images' and the networks'. A file is replaced
// whole or not at all, even if skiff is killed or the machine loses power
// in the middle, and a lock is released by the kernel when its holder
// dies, so a killed skiff never leaves a half-written file or a lock
// that nobody will release.
package safefile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Write replaces file with data: it writes a temporary file beside it,
// flushes it to disk, renames it over file and flushes the folder, so
// that readers (and a machine that crashed) see the old content or the
// new, never a mix, a truncated file or none.
func Write(file string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(file, data, perm)
	if err == nil {
		if err = os.Rename(tmp, file); err != nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return syncDir(filepath.Dir(file))
}

// Create is Write for a file that must not exist yet: if another process
// created it first, whole, it fails with an error that matches
// os.ErrExist. The file appears whole or not at all.
func Create(file string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(file)
	tmp, err := writeTemp(file, data, perm)
	if err != nil {
		return fmt.Errorf("create %s: %w", file, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, file); err != nil { // link(2), unlike rename(2), never replaces
		return fmt.Errorf("create %s: %w", file, err)
	}
	return syncDir(dir)
}

// writeTemp writes data to a new temporary file beside file and flushes
// it to disk.
func writeTemp(file string, data []byte, perm os.FileMode) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-")
	if err != nil {
		return "", err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	return tmp.Name(), nil
}

// IsTemp tells whether a file name is one of Write's temporary files,
// which a writer that was killed leaves behind.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}

// WriteJSON writes v as indented JSON with Write.
func WriteJSON(file string, v any, perm os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return Write(file, append(data, '\n'), perm)
}

// ReadJSON reads file into v.
func ReadJSON(file string, v any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// Lock takes an flock(2) lock on file, creating it if needed: shared
// (unix.LOCK_SH) or exclusive (unix.LOCK_EX), waiting for it. The
// returned function releases it. Each call opens the file anew, so the
// lock also works between goroutines of one process.
func Lock(file string, how int) (unlock func(), err error) {
	f, err := LockFile(file, how)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// TryLockExisting flocks file, or a folder, without creating it and
// without waiting: ok is false if another holds a lock that conflicts.
// The lock lasts as long as the returned file stays open. A file that
// does not exist is an error (os.ErrNotExist).
func TryLockExisting(file string, how int) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(file, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false, err
	}
	if err := flock(f, how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return f, true, nil
}

// LockFile is Lock that returns the open file instead: the lock lasts as
// long as the file stays open, in this process or in any process the file
// is handed to (os/exec's ExtraFiles).
func LockFile(file string, how int) (*os.File, error) {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", file, err)
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR { // a signal (Go's runtime sends many) interrupts a waiting flock
			if err != nil {
				return fmt.Errorf("flock %s: %w", f.Name(), err)
			}
			return nil
		}
	}
}
