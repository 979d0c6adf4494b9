package oci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"skiff/test/hostenv"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Runtime is an OCI runtime with runc's command line.
type Runtime struct {
	Name string // its column in the report: runc, crun, skiff
	Path string // its binary, an absolute path
	// HideCgroup2 runs it in a mount namespace without the hybrid cgroup
	// layout's cgroup2 mount, which crun 1.8 refuses; no effect on a host
	// of another layout.
	HideCgroup2 bool
}

// DefaultRuntimes are runc and crun from the PATH (InstallRuntimes).
func DefaultRuntimes() ([]Runtime, error) {
	var rts []Runtime
	for _, name := range []string{"runc", "crun"} {
		path, err := exec.LookPath(name)
		if err != nil {
			return nil, err
		}
		if path, err = filepath.Abs(path); err != nil {
			return nil, err
		}
		rts = append(rts, Runtime{Name: name, Path: path, HideCgroup2: name == "crun"})
	}
	return rts, nil
}

var runtimeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,31}$`)

// ParseRuntimes reads a list like "skiff=/abs/bin/skiff-runtime
// other=/usr/bin/x" (commas or spaces between them), as OCI_RUNTIMES
// gives it.
func ParseRuntimes(list string) ([]Runtime, error) {
	var rts []Runtime
	for _, item := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		name, path, ok := strings.Cut(item, "=")
		switch {
		case !ok || !runtimeName.MatchString(name):
			return nil, fmt.Errorf("runtime %q: want NAME=/ABSOLUTE/PATH, NAME in lower case letters, digits, '.', '_' and '-'", item)
		case !filepath.IsAbs(path):
			return nil, fmt.Errorf("runtime %q: want an absolute path", item)
		}
		rts = append(rts, Runtime{Name: name, Path: filepath.Clean(path)})
	}
	return rts, nil
}

// Options tune a run.
type Options struct {
	// Timeout bounds each program's run (default 60 s; the slowest
	// programs wait up to 10 s for a state, sometimes twice).
	Timeout time.Duration
	// Logf reports progress: one line per program, with each runtime's
	// result. Nil is quiet.
	Logf func(format string, args ...any)
}

// testRuntime is a runtime set up for a run: the suite calls script,
// which logs the call and runs the runtime with its state in state.
type testRuntime struct {
	Runtime
	dir, script, state string
}

// Run runs every program of the suite against every runtime, one program
// at a time, as root, and removes what they leave on the host. A runtime
// that fails programs is no error: the error is for a run that could not
// go on (a runtime that is not there, a host it cannot clean up). When ctx
// ends, the program running is killed, the rest is not run, and Run
// returns the report so far with ctx's error.
func (s *Suite) Run(ctx context.Context, runtimes []Runtime, opt Options) (*Report, error) {
	if opt.Timeout == 0 {
		opt.Timeout = 60 * time.Second
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if err := checkRun(runtimes); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "oci-validation-")
	if err != nil {
		return nil, err
	}
	// Searchable by all: a container whose root is a user namespace's
	// mapped root must reach its bundle, inside.
	if err := os.Chmod(work, 0o755); err != nil {
		os.Remove(work)
		return nil, err
	}
	ns := filepath.Join(work, "mntns")
	var nsMade bool
	defer func() {
		if nsMade {
			unix.Unmount(ns, unix.MNT_DETACH)
		}
		if err := hostenv.RemoveAll(work); err != nil {
			opt.Logf("%v", err)
		}
	}()
	var trs []*testRuntime
	for _, rt := range runtimes {
		if rt.HideCgroup2 && !nsMade {
			if nsMade, err = hideCgroup2(ns); err != nil {
				return nil, err
			}
		}
		tr, err := setUp(work, rt, nsMade && rt.HideCgroup2, ns)
		if err != nil {
			return nil, err
		}
		trs = append(trs, tr)
	}

	r := &Report{Programs: s.Programs}
	for _, rt := range runtimes {
		r.Runtimes = append(r.Runtimes, rt.Name)
		r.Versions = append(r.Versions, versionOf(rt.Path))
	}
	for _, program := range s.Programs {
		var cells []string
		for _, tr := range trs {
			res := Result{Program: program, Runtime: tr.Name, Status: NotRun}
			if ctx.Err() == nil {
				if res, err = s.runOne(ctx, program, tr, opt.Timeout); err != nil {
					r.Results = append(r.Results, res)
					return r, fmt.Errorf("%s with %s: %w", program, tr.Name, err)
				}
			}
			r.Results = append(r.Results, res)
			cells = append(cells, fmt.Sprintf("%s %s (%.1fs)", tr.Name, res.Cell(), res.Duration.Seconds()))
		}
		opt.Logf("%-34s %s", program, strings.Join(cells, "   "))
	}
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("validation suite stopped: %w", context.Cause(ctx))
	}
	return r, nil
}

// checkRun checks, before anything runs, what a run needs.
func checkRun(runtimes []Runtime) error {
	if os.Geteuid() != 0 {
		return errors.New("the OCI validation suite needs root: its programs create containers")
	}
	for _, tool := range []string{"tar", "unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the OCI validation suite needs %s: %w", tool, err)
		}
	}
	seen := map[string]bool{}
	for _, rt := range runtimes {
		if seen[rt.Name] {
			return fmt.Errorf("runtime %s given twice", rt.Name)
		}
		seen[rt.Name] = true
		if !filepath.IsAbs(rt.Path) {
			return fmt.Errorf("runtime %s: %s is not an absolute path", rt.Name, rt.Path)
		}
		if err := unix.Access(rt.Path, unix.X_OK); err != nil {
			return fmt.Errorf("runtime %s: %s: %w", rt.Name, rt.Path, err)
		}
	}
	if len(runtimes) == 0 {
		return errors.New("no runtime to validate")
	}
	return nil
}

// setUp writes the script the suite calls as RUNTIME: it appends each
// call to the file $OCI_VALIDATION_CALLS, from which the harness learns
// the containers' IDs, and runs the runtime with --root in the run's
// folder, so that the suite never sees nor removes anyone else's
// containers, in the namespace ns when hide is set.
func setUp(work string, rt Runtime, hide bool, ns string) (*testRuntime, error) {
	tr := &testRuntime{Runtime: rt, dir: filepath.Join(work, rt.Name)}
	tr.script, tr.state = filepath.Join(tr.dir, "runtime"), filepath.Join(tr.dir, "state")
	if err := os.Mkdir(tr.dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(tr.state, 0o700); err != nil {
		return nil, err
	}
	run := fmt.Sprintf("%s --root %s", quote(rt.Path), quote(tr.state))
	if hide {
		// nsenter starts in /: the suite may give paths relative to its
		// working folder.
		run = fmt.Sprintf(`nsenter --mount=%s --wd="$PWD" %s`, quote(ns), run)
	}
	script := fmt.Sprintf("#!/bin/sh\n# %s under the OCI validation suite\nprintf '%%s\\n' \"$*\" >> \"$OCI_VALIDATION_CALLS\"\nexec %s \"$@\"\n", rt.Name, run)
	if err := os.WriteFile(tr.script, []byte(script), 0o755); err != nil {
		return nil, err
	}
	return tr, nil
}

// versionOf is the first line of the runtime's --version, or why not.
func versionOf(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return fmt.Sprintf("%s --version: %v", path, err)
	}
	return path + ": " + hostenv.LastLine(strings.SplitN(string(out), "\n", 2)[0])
}

// quote quotes s for sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runOne runs one program against one runtime in a folder of its own,
// then removes what it left: containers, processes, cgroups, mounts.
func (s *Suite) runOne(ctx context.Context, program string, tr *testRuntime, timeout time.Duration) (Result, error) {
	res := Result{Program: program, Runtime: tr.Name}
	dir := filepath.Join(tr.dir, "run", program)
	if err := prepare(s.Dir, dir); err != nil {
		return res, err
	}
	before, err := cgroupDirs()
	if err != nil {
		return res, err
	}
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		return res, err
	}
	defer out.Close()
	errOut, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		return res, err
	}
	defer errOut.Close()

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Files, not pipes, for its output: a container may keep them open.
	cmd := exec.CommandContext(runCtx, filepath.Join(s.Dir, "bin", program))
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, errOut
	cmd.Env = append(os.Environ(), "RUNTIME="+tr.script, "TMPDIR="+filepath.Join(dir, "tmp"),
		"OCI_VALIDATION_CALLS="+filepath.Join(dir, "calls"))
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	start := time.Now()
	runErr := cmd.Run()
	res.Duration = time.Since(start)
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return res, runErr
	}
	res.ExitCode = cmd.ProcessState.ExitCode()
	if procs := killGroup(cmd.Process.Pid); len(procs) > 0 {
		res.Leftovers = append(res.Leftovers, "processes "+strings.Join(procs, " "))
	}

	res.TAP, _ = os.ReadFile(out.Name())
	res.Stderr, _ = os.ReadFile(errOut.Name())
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	res.Calls = strings.FieldsFunc(string(calls), func(r rune) bool { return r == '\n' })
	res.Counts = parseTAP(res.TAP)
	switch {
	case ctx.Err() != nil:
		res.Status = NotRun
	case runCtx.Err() != nil:
		res.Status = TimedOut
	case res.ExitCode == 0 && res.Counts.NotOK == 0 && !res.Counts.Error:
		res.Status = Passed
	default:
		res.Status = Failed
	}

	left, err := cleanUp(tr, dir, res.Calls, before)
	res.Leftovers = append(res.Leftovers, left...)
	return res, err
}

// prepare makes a program's working folder: the suite's programs unpack
// the bundle's root from it, copy runtimetest from it into each bundle,
// and make their bundles in TMPDIR, which is dir/tmp.
func prepare(suite, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return err
	}
	for _, f := range []string{"runtimetest", rootfsTarball} {
		// A link when the cache is on the same file system. Not a
		// symlink: the suite copies runtimetest into each bundle as a
		// symlink if it is one.
		if err := os.Link(filepath.Join(suite, f), filepath.Join(dir, f)); err == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(suite, f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// suiteCgroups are the cgroups the suite's configurations name, besides
// the containers' IDs (runtime-tools' cgroups.AbsCgroupPath and
// RelCgroupPath).
var suiteCgroups = []string{"cgrouptest", "testdir"}

// cleanUp removes what a program left with runtime tr: the containers its
// calls created or the runtime's state still lists (deleted through the
// runtime first), then their cgroups, then mounts under dir, then dir.
// It returns what it found left.
func cleanUp(tr *testRuntime, dir string, calls []string, cgroupsBefore map[string]bool) ([]string, error) {
	var left []string
	ids := map[string]bool{} // the suite makes them up
	for _, call := range calls {
		f := strings.Fields(call)
		if len(f) > 1 && f[0] == "create" && !strings.Contains(f[len(f)-1], "/") {
			ids[f[len(f)-1]] = true
		}
	}
	entries, err := os.ReadDir(tr.state)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			left = append(left, "container "+e.Name())
			ids[e.Name()] = true
		}
	}
	env := append(os.Environ(), "OCI_VALIDATION_CALLS=/dev/null")
	for id := range ids {
		runQuiet(10*time.Second, env, tr.script, "delete", "--force", id) // most are gone already
	}
	// The runtime's state folder is the run's: empty it of what its
	// delete left.
	entries, _ = os.ReadDir(tr.state)
	for _, e := range entries {
		if err := hostenv.RemoveAll(filepath.Join(tr.state, e.Name())); err != nil {
			return left, err
		}
	}
	names := ids
	for _, c := range suiteCgroups {
		names[c] = true
	}
	removed, err := removeCgroups(cgroupsBefore, names)
	left = append(left, removed...)
	if err != nil {
		return left, err
	}
	points, err := hostenv.UnmountUnder(dir)
	if len(points) > 0 {
		slices.Reverse(points)
		for i, p := range points {
			points[i] = strings.TrimPrefix(p, dir+"/")
		}
		left = append(left, "mounts "+strings.Join(points, " "))
	}
	if err != nil {
		return left, err
	}
	return left, hostenv.RemoveAll(dir)
}
