package oci

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is how one program went with one runtime.
type Status int

const (
	NotRun Status = iota // the run stopped before it, or during it
	Passed
	Failed
	TimedOut
)

// Counts are the TAP test lines a program printed.
type Counts struct {
	OK    int // "ok" lines, skipped ones included
	NotOK int // "not ok" lines
	Skip  int // "ok" lines with a SKIP directive
	// Error: a top-level diagnostic with an "error" key and no test line
	// at all. The lifecycle programs (hooks, prestart, poststart…) report
	// a failed check that way, and exit 0.
	Error bool
}

// parseTAP counts a program's TAP output. Test lines start at the line's
// start; the diagnostics (indented YAML) may quote the inner runtimetest's
// TAP, which must not count.
func parseTAP(out []byte) Counts {
	var c Counts
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	errorKey := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "not ok"):
			c.NotOK++
		case strings.HasPrefix(line, "ok"):
			c.OK++
			if _, directive, ok := strings.Cut(line, "#"); ok && strings.HasPrefix(strings.ToLower(strings.TrimSpace(directive)), "skip") {
				c.Skip++
			}
		case strings.HasPrefix(line, `    "error":`):
			errorKey = true
		}
	}
	c.Error = errorKey && c.OK+c.NotOK == 0
	return c
}

// Result is one program's run with one runtime.
type Result struct {
	Program, Runtime string
	Status           Status
	ExitCode         int
	Counts           Counts
	Duration         time.Duration
	TAP, Stderr      []byte   // what the program printed
	Calls            []string // the runtime's command lines, as the suite called it
	// Leftovers are what the harness found left and removed after the
	// program: containers, processes, cgroups, mounts.
	Leftovers []string
}

// Cell is the result in a word or three, for the report's table.
func (r Result) Cell() string {
	switch r.Status {
	case Passed:
		return "ok"
	case TimedOut:
		return "timed out"
	case Failed:
		switch {
		case r.Counts.NotOK > 0:
			return fmt.Sprintf("fail: %d not ok", r.Counts.NotOK)
		case r.ExitCode != 0:
			return fmt.Sprintf("fail: exit %d", r.ExitCode)
		default:
			return "fail: error"
		}
	}
	return "-"
}

// Report is a run's results: each program with each runtime.
type Report struct {
	Runtimes []string // in the order they ran
	Versions []string // each runtime's path and --version's first line
	Programs []string
	Results  []Result
}

// result is the program's run with the runtime, if there was one.
func (r *Report) result(program, runtime string) (Result, bool) {
	i := slices.IndexFunc(r.Results, func(res Result) bool { return res.Program == program && res.Runtime == runtime })
	if i < 0 {
		return Result{}, false
	}
	return r.Results[i], true
}

// Passed is how many programs passed with the runtime: exited 0, with no
// "not ok" line and no error diagnostic.
func (r *Report) Passed(runtime string) int {
	n := 0
	for _, res := range r.Results {
		if res.Runtime == runtime && res.Status == Passed {
			n++
		}
	}
	return n
}

// Totals adds up the runtime's TAP counts over all programs.
func (r *Report) Totals(runtime string) (c Counts, took time.Duration) {
	for _, res := range r.Results {
		if res.Runtime == runtime {
			c.OK += res.Counts.OK
			c.NotOK += res.Counts.NotOK
			c.Skip += res.Counts.Skip
			took += res.Duration
		}
	}
	return c, took
}

// AtLeast fails unless runtime passes at least as many programs as each of
// others; the error names the programs they pass and it does not.
func (r *Report) AtLeast(runtime string, others ...string) error {
	for _, name := range append([]string{runtime}, others...) {
		if !slices.Contains(r.Runtimes, name) {
			return fmt.Errorf("no runtime %s in the report", name)
		}
	}
	n := r.Passed(runtime)
	for _, other := range others {
		m := r.Passed(other)
		if n >= m {
			continue
		}
		var only []string
		for _, p := range r.Programs {
			a, _ := r.result(p, runtime)
			b, _ := r.result(p, other)
			if b.Status == Passed && a.Status != Passed {
				only = append(only, p)
			}
		}
		return fmt.Errorf("%s passes %d validation programs, fewer than %s's %d; %s passes and %s fails: %s",
			runtime, n, other, m, other, runtime, strings.Join(only, " "))
	}
	return nil
}

// Table is the report for people: a row per program, a column per
// runtime, then the totals, the slowest runs and what was left behind.
func (r *Report) Table() string {
	var b strings.Builder
	for i, v := range r.Versions {
		fmt.Fprintf(&b, "%s = %s\n", r.Runtimes[i], v)
	}
	w := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	fmt.Fprintf(w, "program\t%s\n", strings.Join(r.Runtimes, "\t"))
	for _, p := range r.Programs {
		row := []string{p}
		for _, rt := range r.Runtimes {
			res, _ := r.result(p, rt)
			row = append(row, res.Cell())
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	passed, ok, notOK, took := []string{"programs passed"}, []string{"subtests ok (skipped)"}, []string{"subtests not ok"}, []string{"time"}
	for _, rt := range r.Runtimes {
		c, d := r.Totals(rt)
		passed = append(passed, fmt.Sprintf("%d/%d", r.Passed(rt), len(r.Programs)))
		ok = append(ok, fmt.Sprintf("%d (%d)", c.OK, c.Skip))
		notOK = append(notOK, fmt.Sprint(c.NotOK))
		took = append(took, d.Round(100*time.Millisecond).String())
	}
	fmt.Fprintln(w, strings.Repeat("\t", len(r.Runtimes))) // a line of empty cells keeps the columns aligned
	for _, row := range [][]string{passed, ok, notOK, took} {
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	w.Flush()
	b.WriteString("\n")
	if slices.ContainsFunc(r.Results, func(res Result) bool { return res.Status == Failed && res.Cell() == "fail: error" }) {
		b.WriteString("fail: error = an error diagnostic and no test line, with exit status 0: how the hook and lifecycle programs report a failed check.\n")
	}

	slowest := slices.Clone(r.Results)
	slices.SortStableFunc(slowest, func(a, b Result) int { return int(b.Duration - a.Duration) })
	var names []string
	for _, res := range slowest[:min(8, len(slowest))] {
		names = append(names, fmt.Sprintf("%s/%s %.1fs", res.Program, res.Runtime, res.Duration.Seconds()))
	}
	fmt.Fprintf(&b, "slowest: %s\n", strings.Join(names, ", "))

	var left []string
	for _, res := range r.Results {
		if len(res.Leftovers) > 0 {
			left = append(left, fmt.Sprintf("  %s/%s: %s", res.Program, res.Runtime, strings.Join(res.Leftovers, "; ")))
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(&b, "left behind, and removed by the harness:\n%s\n", strings.Join(left, "\n"))
	}
	return b.String()
}

// WriteLogs writes each run's TAP, standard error and runtime calls to
// dir/RUNTIME/PROGRAM.{tap,stderr,calls}.
func (r *Report) WriteLogs(dir string) error {
	for _, res := range r.Results {
		if res.Status == NotRun && res.TAP == nil {
			continue
		}
		base := filepath.Join(dir, res.Runtime, res.Program)
		if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
			return err
		}
		for ext, data := range map[string][]byte{
			".tap":    res.TAP,
			".stderr": res.Stderr,
			".calls":  []byte(strings.Join(res.Calls, "\n") + "\n"),
		} {
			if err := os.WriteFile(base+ext, data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
