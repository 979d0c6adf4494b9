package caps

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestApplyAmbientOnlyIfInheritable applies the sets of `runc spec`
// (CAP_KILL permitted and ambient, not inheritable) on a thread of its
// own: the ambient capability is left out rather than failing the
// container, as runc and crun do; once inheritable it is raised.
func TestApplyAmbientOnlyIfInheritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the thread raises CAP_KILL")
	}
	kill := Set(1 << unix.CAP_KILL)
	for _, tc := range []struct {
		inheritable Set
		raised      int
	}{{0, 0}, {kill, 1}} {
		type result struct {
			raised int
			err    error
		}
		done := make(chan result)
		go func() {
			// Never unlocked: the thread and its changed capabilities
			// end with this goroutine.
			runtime.LockOSThread()
			if err := Apply(Sets{Effective: kill, Permitted: kill, Inheritable: tc.inheritable, Ambient: kill}); err != nil {
				done <- result{err: err}
				return
			}
			raised, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, unix.CAP_KILL, 0, 0)
			done <- result{raised, err}
		}()
		r := <-done
		if r.err != nil || r.raised != tc.raised {
			t.Errorf("inheritable %#x: Apply gave %v, CAP_KILL ambient %d; want no error and %d", tc.inheritable, r.err, r.raised, tc.raised)
		}
	}
}
