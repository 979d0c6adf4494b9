package caps

import (
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestParse(t *testing.T) {
	s, err := Parse([]string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"})
	if err != nil {
		t.Fatal(err)
	}
	if want := Set(1<<0 | 1<<21 | 1<<40); s != want {
		t.Errorf("Parse = %#x, want %#x", s, want)
	}
	if got := s.List(); len(got) != 3 || got[0] != 0 || got[1] != 21 || got[2] != 40 {
		t.Errorf("List = %v", got)
	}
	if _, err := Parse([]string{"CAP_FLY"}); err == nil {
		t.Error("an unknown capability was accepted")
	}
}

func TestDefaultIsDockersWithoutMknodAndNetRaw(t *testing.T) {
	sets, err := ParseSets(Default())
	if err != nil {
		t.Fatal(err)
	}
	// Docker's default bounding set is 0xa80425fb; skiff drops CAP_MKNOD
	// (27) and CAP_NET_RAW (13).
	if want := Set(0xa80425fb &^ (1<<27 | 1<<13)); sets.Bounding != want || sets.Effective != want || sets.Permitted != want {
		t.Errorf("default sets %#x %#x %#x, want %#x", sets.Bounding, sets.Effective, sets.Permitted, want)
	}
	if sets, _ := ParseSets(&specs.LinuxCapabilities{}); sets != (Sets{}) {
		t.Errorf("empty lists give %+v", sets)
	}
}
