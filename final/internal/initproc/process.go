package initproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/caps"
	"skiff/internal/exit"
	"skiff/internal/seccomp"
)

// process is the container's command, checked before init says it is
// ready, so that a command that cannot run fails `create`, not `start`.
type process struct {
	spec   *specs.Process
	path   string
	caps   caps.Sets
	filter *seccomp.Filter // linux.seccomp, if any
	reaper bool
}

// prepareProcess moves into the process's working folder, made if
// missing in a new container (as Docker does with WORKDIR), not for exec.
// The seccomp filter is the one given, compiled by the runtime, if any.
func prepareProcess(spec *specs.Spec, makeCwd bool, filter *seccomp.Filter) (*process, error) {
	p := spec.Process
	if p == nil {
		return nil, nil // nothing to start: start says so
	}
	sets, err := caps.ParseSets(p.Capabilities)
	if err != nil {
		return nil, fmt.Errorf("process.capabilities: %w", err)
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if makeCwd {
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			return nil, fmt.Errorf("working folder %s: %w", cwd, err)
		}
	}
	if err := unix.Chdir(cwd); err != nil {
		return nil, &exit.Error{Code: exit.CannotExec, Msg: fmt.Sprintf("working folder %s: %v", cwd, err)}
	}
	path, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return nil, err
	}
	proc := &process{spec: p, path: path, caps: sets, reaper: spec.Annotations[ReaperAnnotation] == "true", filter: filter}
	if filter == nil && spec.Linux != nil && spec.Linux.Seccomp != nil {
		if proc.filter, err = seccomp.Compile(spec.Linux.Seccomp); err != nil {
			return nil, fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	return proc, nil
}

// start becomes the process the spec describes and execs its command:
// limits first, then the bounding set (which needs CAP_SETPCAP), the
// user, and the capabilities that user keeps. The seccomp filter comes
// as runc installs it: with no_new_privs, last, so that as few calls as
// possible run under it (the profile need not allow setuid or capset);
// without, installing needs CAP_SYS_ADMIN, which the user switch and the
// capability sets may drop, so before them.
func (p *process) start(sync *os.File) error {
	if p == nil {
		return errors.New("the container has no process to start")
	}
	s := p.spec
	for _, r := range s.Rlimits {
		if err := setRlimit(r); err != nil {
			return err
		}
	}
	if s.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*s.OOMScoreAdj)), 0); err != nil {
			return fmt.Errorf("write /proc/self/oom_score_adj: %w", err)
		}
	}
	if p.filter != nil && !s.NoNewPrivileges {
		if err := p.filter.Install(); err != nil {
			return err
		}
	}
	if s.Capabilities != nil {
		if err := caps.LimitBounding(p.caps.Bounding); err != nil {
			return err
		}
		if err := caps.KeepOverSetuid(); err != nil {
			return err
		}
	}
	if err := setUser(s.User); err != nil {
		return err
	}
	if s.Capabilities != nil {
		if err := caps.Apply(p.caps); err != nil {
			return err
		}
	}
	if s.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
		}
		if p.filter != nil {
			if err := p.filter.Install(); err != nil {
				return err
			}
		}
	}
	if p.reaper {
		return reap(p.path, s.Args, s.Env, sync)
	}
	if err := unix.Exec(p.path, s.Args, s.Env); err != nil {
		return &exit.ExecError{Name: s.Args[0], Err: err}
	}
	return nil
}

var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// CheckRlimits refuses what setrlimit(2) cannot take: an unknown limit,
// one listed twice, a soft limit above the hard one.
func CheckRlimits(list []specs.POSIXRlimit) error {
	seen := map[string]bool{}
	for _, r := range list {
		if _, ok := rlimits[r.Type]; !ok {
			return fmt.Errorf("process.rlimits: unknown limit %q", r.Type)
		}
		if seen[r.Type] {
			return fmt.Errorf("process.rlimits: %s is listed twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return fmt.Errorf("process.rlimits: %s: soft limit %d above the hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	return nil
}

func setRlimit(r specs.POSIXRlimit) error {
	limit := &unix.Rlimit{Cur: r.Soft, Max: r.Hard}
	err := unix.Setrlimit(rlimits[r.Type], limit)
	if r.Type == "RLIMIT_NOFILE" {
		// Go raises its own soft limit of open files at start-up and puts
		// the old one back at exec, unless the program set it through
		// the syscall package, which tells the runtime.
		err = syscall.Setrlimit(unix.RLIMIT_NOFILE, (*syscall.Rlimit)(limit))
	}
	if err != nil {
		return fmt.Errorf("setrlimit %s: %w", r.Type, err)
	}
	return nil
}

// setUser switches to the container's user, its groups and umask. Go
// applies setgid and setuid to every thread of the process, one signal
// each, so what is already so (root, most often) is left alone.
func setUser(u specs.User) error {
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	if current, err := unix.Getgroups(); err != nil || len(current) > 0 || len(groups) > 0 {
		if err := unix.Setgroups(groups); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if r, e, s := unix.Getresgid(); r != int(u.GID) || e != int(u.GID) || s != int(u.GID) {
		if err := unix.Setgid(int(u.GID)); err != nil {
			return fmt.Errorf("setgid %d: %w", u.GID, err)
		}
	}
	if r, e, s := unix.Getresuid(); r != int(u.UID) || e != int(u.UID) || s != int(u.UID) {
		if err := unix.Setuid(int(u.UID)); err != nil {
			return fmt.Errorf("setuid %d: %w", u.UID, err)
		}
	}
	if u.Umask != nil {
		unix.Umask(int(*u.Umask))
	}
	return nil
}

// lookPath searches the container's PATH, from its environment.
func lookPath(name string, env []string) (string, error) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			os.Setenv("PATH", v)
		}
	}
	path, err := exec.LookPath(name)
	var lookErr *exec.Error
	if errors.As(err, &lookErr) {
		err = lookErr.Err
	}
	if err != nil {
		return "", &exit.ExecError{Name: name, Err: err}
	}
	return path, nil
}
