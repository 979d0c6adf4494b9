// Package subid finds skiff's range of subordinate user and group IDs in
// /etc/subuid and /etc/subgid, the files where shadow's useradd gives
// each user IDs of the host to map in user namespaces ("alice:100000:65536":
// 65536 IDs from 100000). Containers run with --userns private map their
// IDs 0-65535 there: root inside is the first ID of the range, a user the
// host does not know. One range serves every container, as Docker's
// userns-remap does: containers are kept apart by their namespaces, and
// the range keeps all of them apart from the host's users.
package subid

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// User is the name skiff's ranges are listed under.
const User = "skiff"

// Size is how many IDs a container maps: 0 to 65535, all a classic
// image's files use.
const Size = 65536

// first is where ranges start, as useradd's SUB_UID_MIN: above the IDs
// of the host's own users.
const first = 100000

// Files are the files Get reads.
var Files = [2]string{"/etc/subuid", "/etc/subgid"}

// Range is the host's IDs Start to Start+Size-1.
type Range struct{ Start, Size int }

// Get returns skiff's user and group ranges, each added to its file when
// the file has none of at least Size IDs for User.
func Get() (uids, gids Range, err error) {
	if uids, err = allocate(Files[0], User, Size); err == nil {
		gids, err = allocate(Files[1], User, Size)
	}
	return uids, gids, err
}

// allocate finds user's first range of at least size IDs in the file, or
// appends one above all the others, under an exclusive lock of the file
// (two skiff processes must not both append one).
func allocate(path, user string, size int) (Range, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil { // a bare system (the VM) may have no /etc
		return Range{}, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return Range{}, err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return Range{}, fmt.Errorf("flock %s: %w", path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return Range{}, err
	}
	next := first
	for _, e := range parse(string(data)) {
		if e.user == user && e.Size >= size {
			return e.Range, nil
		}
		next = max(next, e.Start+e.Size)
	}
	line := fmt.Sprintf("%s:%d:%d\n", user, next, size)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		line = "\n" + line
	}
	if _, err := f.WriteAt([]byte(line), int64(len(data))); err != nil {
		return Range{}, fmt.Errorf("write %s: %w", path, err)
	}
	return Range{next, size}, nil
}

type entry struct {
	user string
	Range
}

// parse reads the lines "user:start:count", skipping what is not one.
func parse(text string) []entry {
	var list []entry
	scan := bufio.NewScanner(strings.NewReader(text))
	for scan.Scan() {
		f := strings.Split(strings.TrimSpace(scan.Text()), ":")
		if len(f) != 3 {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		count, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && start >= 0 && count > 0 {
			list = append(list, entry{f[0], Range{start, count}})
		}
	}
	return list
}
