package oci

import (
	"strings"
	"testing"
	"time"
)

func TestParseTAP(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      Counts
	}{
		{"tests and skips", "TAP version 13\nok 1 - a\nok 2 # SKIP b not set\nnot ok 3 - c\n  ---\n  {\n    \"error\": \"x\"\n  }\n  ...\n1..3\n",
			Counts{OK: 2, NotOK: 1, Skip: 1}},
		// The inner runtimetest's TAP, quoted in a diagnostic, is not counted.
		{"quoted TAP", "TAP version 13\nok 1 - outer\n  ---\n  {\n    \"stdout\": \"TAP version 13\\nnot ok 1 - inner\\n\"\n  }\n  ...\n1..1\n",
			Counts{OK: 1}},
		// How prestart and the hook programs say that a check failed.
		{"error alone", "TAP version 13\n  ---\n  {\n    \"error\": \"Pre-start hooks MUST be called after the `start` operation is called\"\n  }\n  ...\n1..0\n",
			Counts{Error: true}},
		{"nothing to check", "TAP version 13\n1..0\n", Counts{}},
		{"no output", "", Counts{}},
	} {
		if got := parseTAP([]byte(tc.out)); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestCell(t *testing.T) {
	for _, tc := range []struct {
		res  Result
		want string
	}{
		{Result{Status: Passed}, "ok"},
		{Result{Status: Failed, ExitCode: 1, Counts: Counts{NotOK: 2}}, "fail: 2 not ok"},
		{Result{Status: Failed, ExitCode: 1}, "fail: exit 1"},
		{Result{Status: Failed, Counts: Counts{Error: true}}, "fail: error"},
		{Result{Status: TimedOut, Counts: Counts{OK: 3}}, "timed out"},
		{Result{Status: NotRun}, "-"},
	} {
		if got := tc.res.Cell(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.res, got, tc.want)
		}
	}
}

// report has two programs; runc passes a, crun passes a and b, x passes b.
func report() *Report {
	r := &Report{Runtimes: []string{"runc", "crun", "x"}, Programs: []string{"a", "b"}}
	for _, res := range []Result{
		{Program: "a", Runtime: "runc", Status: Passed, Counts: Counts{OK: 3, Skip: 1}, Duration: time.Second},
		{Program: "a", Runtime: "crun", Status: Passed, Counts: Counts{OK: 3}},
		{Program: "a", Runtime: "x", Status: Failed, ExitCode: 1, Counts: Counts{OK: 2, NotOK: 1}},
		{Program: "b", Runtime: "runc", Status: TimedOut, Duration: time.Minute, Leftovers: []string{"container c1"}},
		{Program: "b", Runtime: "crun", Status: Passed, Counts: Counts{OK: 1}},
		{Program: "b", Runtime: "x", Status: Passed, Counts: Counts{OK: 1}},
	} {
		r.Results = append(r.Results, res)
	}
	return r
}

func TestAtLeast(t *testing.T) {
	r := report()
	if err := r.AtLeast("x", "runc"); err != nil {
		t.Errorf("x passes as many as runc: %v", err)
	}
	err := r.AtLeast("x", "runc", "crun")
	if err == nil || err.Error() != "x passes 1 validation programs, fewer than crun's 2; crun passes and x fails: a" {
		t.Errorf("x passes fewer than crun: got %v", err)
	}
	if err := r.AtLeast("skiff", "runc"); err == nil || !strings.Contains(err.Error(), "no runtime skiff") {
		t.Errorf("a runtime not in the report: got %v", err)
	}
}

func TestTable(t *testing.T) {
	table := report().Table()
	for _, want := range []string{
		"a                       ok          ok      fail: 1 not ok\n",
		"b                       timed out   ok      ok\n",
		"programs passed         1/2         2/2     1/2\n",
		"subtests ok (skipped)   3 (1)       4 (0)   3 (0)\n",
		"subtests not ok         0           0       1\n",
		"slowest: b/runc 60.0s, a/runc 1.0s,",
		"  b/runc: container c1\n",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestParseRuntimes(t *testing.T) {
	rts, err := ParseRuntimes(" skiff=/w/bin/skiff-runtime,youki=/usr/bin/youki ")
	if err != nil || len(rts) != 2 || rts[0] != (Runtime{Name: "skiff", Path: "/w/bin/skiff-runtime"}) || rts[1].Name != "youki" {
		t.Errorf("got %+v, %v", rts, err)
	}
	if rts, err := ParseRuntimes(""); err != nil || len(rts) != 0 {
		t.Errorf("empty list: got %+v, %v", rts, err)
	}
	for _, bad := range []string{"skiff", "skiff=bin/skiff-runtime", "=/bin/x", "Skiff=/bin/x", "a/b=/bin/x"} {
		if _, err := ParseRuntimes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMountinfoHelpers(t *testing.T) {
	if got := unescape(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Errorf("unescape: got %q", got)
	}
	if h, p := splitCgroup("/sys/fs/cgroup/memory/testdir/cgrouptest"); h != "memory" || p != "/testdir/cgrouptest" {
		t.Errorf("splitCgroup: got %q %q", h, p)
	}
}
