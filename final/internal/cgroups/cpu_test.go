package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// TestCPUZeroIsNotGiven: a quota and a period of 0, as docker update sends
// them when it changes only the memory, leave the CPU limit alone; on v2
// a quota without a period keeps the period.
func TestCPUZeroIsNotGiven(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	u64 := func(n uint64) *uint64 { return &n }
	for _, c := range []struct {
		quota    *int64
		period   *uint64
		v2, v1q  string
		v1period string
	}{
		{i64(0), u64(0), "", "", ""},
		{nil, nil, "", "", ""},
		{i64(20000), u64(100000), "20000 100000", "20000", "100000"},
		{i64(50000), nil, "50000", "50000", ""},
		{i64(-1), u64(0), "max", "-1", ""},
	} {
		cpu := &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: c.quota, Period: c.period}}
		v2dir := t.TempDir()
		if err := (&v2{dir: v2dir}).Set(cpu); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(v2dir, "cpu.max")); got != c.v2 {
			t.Errorf("v2 quota %v period %v: cpu.max %q, want %q", c.quota, c.period, got, c.v2)
		}
		v1dir := t.TempDir()
		if err := (&v1{dirs: []v1Dir{{"cpu", v1dir}}}).Set(cpu); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(v1dir, "cpu.cfs_quota_us")); got != c.v1q {
			t.Errorf("v1 quota %v: cpu.cfs_quota_us %q, want %q", c.quota, got, c.v1q)
		}
		if got := read(t, filepath.Join(v1dir, "cpu.cfs_period_us")); got != c.v1period {
			t.Errorf("v1 period %v: cpu.cfs_period_us %q, want %q", c.period, got, c.v1period)
		}
	}
}

// read is a file's content, or "" when it was never written.
func read(t *testing.T, name string) string {
	data, err := os.ReadFile(name)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}
