package rootfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	cases := []struct {
		opts  []string
		flags uintptr
		attr  uint64
		prop  int
		data  string
	}{
		{[]string{"nosuid", "noexec", "mode=755", "size=65536k"}, unix.MS_NOSUID | unix.MS_NOEXEC,
			unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC, 0, "mode=755,size=65536k"},
		{[]string{"rbind", "ro", "rprivate"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY, 1, ""},
		{[]string{"ro", "rw"}, 0, 0, 0, ""}, // the last word wins
		{[]string{"defaults", "tmpcopyup", "lowerdir=/a:/b"}, 0, 0, 0, "lowerdir=/a:/b"},
	}
	for _, c := range cases {
		o := parseOptions(c.opts)
		if o.flags != c.flags || o.attr != c.attr || len(o.propagation) != c.prop || o.data != c.data {
			t.Errorf("%q: flags %#x attr %#x propagation %d data %q; want %#x %#x %d %q",
				c.opts, o.flags, o.attr, len(o.propagation), o.data, c.flags, c.attr, c.prop, c.data)
		}
	}
}
