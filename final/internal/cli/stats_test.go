package cli

import (
	"strings"
	"testing"
	"time"

	"skiff/internal/cgroups"
)

func TestParseNetDev(t *testing.T) {
	dev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0
  eth0:    1200      10    0    0    0     0          0         0      800       8    0    0    0     0       0          0
  eth1:      34       1    0    0    0     0          0         0       66       1    0    0    0     0       0          0
`
	rx, tx, ok := parseNetDev(strings.NewReader(dev))
	if !ok || rx != 1234 || tx != 866 {
		t.Errorf("rx %d tx %d ok %v, want 1234 and 866 (lo left out)", rx, tx, ok)
	}
	if _, _, ok := parseNetDev(strings.NewReader("Inter-|\n face |\n    lo: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n")); ok {
		t.Error("lo alone counted as a link")
	}
}

func TestStatsRow(t *testing.T) {
	at := time.Now()
	before := statsSample{id: "0123456789abcdef", at: at, running: true, Stats: cgroups.Stats{CPUUsec: 1000}}
	now := statsSample{id: "0123456789abcdef", name: "web", at: at.Add(time.Second), running: true,
		Stats: cgroups.Stats{CPUUsec: 501000, MemoryUsage: 16 << 20, MemoryLimit: 64 << 20, Pids: 3, BlockRead: 1024, HasBlockIO: true},
		netRx: 2048, netTx: 1024, hasNet: true}
	r := now.row(before, false)
	want := statsRow{Container: "0123456789ab", ID: "0123456789ab", Name: "web", CPUPerc: "50.00%", MemUsage: "16.0 MiB / 64.0 MiB",
		MemPerc: "25.00%", NetIO: "2.0 KiB / 1.0 KiB", BlockIO: "1.0 KiB / 0.0 B", PIDs: "3"}
	if r != want {
		t.Errorf("row\n%+v, want\n%+v", r, want)
	}
	if r := now.row(statsSample{}, true); r.CPUPerc != "--" || r.ID != "0123456789abcdef" {
		t.Errorf("first sample: CPU %q, ID %q: want -- and the whole ID", r.CPUPerc, r.ID)
	}
	if r := (statsSample{id: "x", name: "gone"}).row(statsSample{}, false); r.MemUsage != "-- / --" || r.PIDs != "--" {
		t.Errorf("a stopped container: %+v", r)
	}
}
