//go:build vmtest

package test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDetachedSignalsAreDefault: a detached container's processes start
// with no signal ignored (the monitor catches the signals it must survive
// instead of ignoring them, which exec would pass on), so a trap works.
func TestDetachedSignalsAreDefault(t *testing.T) {
	detached(t, "hup", "busybox", "sh", "-c", `grep SigIgn /proc/self/status; trap "echo got HUP" HUP; while true; do sleep 0.1; done`)
	time.Sleep(300 * time.Millisecond)
	must(t, "kill", "-s", "HUP", "hup")
	var logs string
	for try := 0; try < 50 && !strings.Contains(logs, "got HUP"); try++ {
		time.Sleep(100 * time.Millisecond)
		logs = must(t, "logs", "hup")
	}
	if !strings.Contains(logs, "SigIgn:\t0000000000000000") || !strings.Contains(logs, "got HUP") {
		t.Errorf("logs of a detached container trapping HUP:\n%s", logs)
	}
}

// TestTerminalNeedsATerminal: -it with stdin from a pipe is refused, as
// Docker refuses it, instead of waiting forever.
func TestTerminalNeedsATerminal(t *testing.T) {
	detached(t, "tty-target", "busybox", "sleep", "100")
	for _, args := range [][]string{{"run", "--rm", "-it", "busybox", "cat"}, {"exec", "-it", "tty-target", "cat"}} {
		done := make(chan result, 1)
		go func() { done <- skiffIn(t, []byte("x\n"), args...) }()
		select {
		case r := <-done:
			if r.status != 125 || !strings.Contains(r.stderr, "not a TTY") {
				t.Errorf("%v with a pipe on stdin: status %d, %q", args, r.status, r.stderr)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%v with a pipe on stdin hangs", args)
		}
	}
}

// TestDockerFlagSemantics: -e KEY takes the host's KEY only if it is set,
// -m 0 means no limit, and stopping a container that has exited succeeds.
func TestDockerFlagSemantics(t *testing.T) {
	os.Unsetenv("SKIFF_TEST_UNSET")
	os.Setenv("SKIFF_TEST_SET", "from host")
	out := must(t, "run", "--rm", "-e", "SKIFF_TEST_UNSET", "-e", "SKIFF_TEST_SET", "busybox", "sh", "-c",
		`echo ${SKIFF_TEST_UNSET-unset}; echo $SKIFF_TEST_SET`)
	if out != "unset\nfrom host\n" {
		t.Errorf("-e KEY: %q", out)
	}
	must(t, "run", "--rm", "-m", "0", "busybox", "true")
	must(t, "run", "--name", "finished", "busybox", "true")
	defer skiff(t, "rm", "finished")
	if out := must(t, "stop", "finished"); out != "finished\n" {
		t.Errorf("stop of an exited container printed %q", out)
	}
}

// TestHostnames: -h NAME is in the container's /etc/hosts on a bridge
// network too, so that it resolves; --network host keeps the host's name.
func TestHostnames(t *testing.T) {
	out := must(t, "run", "--rm", "-h", "myhost", "--cap-add", "NET_RAW", "busybox", "sh", "-c", "grep -w myhost /etc/hosts && ping -c 1 -W 2 myhost >/dev/null && echo resolved")
	if !strings.HasSuffix(out, "resolved\n") {
		t.Errorf("-h myhost on a bridge network: %q", out)
	}
	host, _ := os.Hostname()
	if out := must(t, "run", "--rm", "--network", "host", "busybox", "hostname"); out != host+"\n" {
		t.Errorf("--network host: hostname %q, want the host's %q", out, host)
	}
}

// TestExecWorkdirMissing: exec -w of a folder the container lacks blames
// the folder, with Docker's 126, not the command.
func TestExecWorkdirMissing(t *testing.T) {
	detached(t, "wd", "busybox", "sleep", "100")
	r := skiff(t, "exec", "-w", "/no/such/folder", "wd", "pwd")
	if r.status != 126 || !strings.Contains(r.stderr, "working folder /no/such/folder") {
		t.Errorf("exec -w /no/such/folder: status %d, %q", r.status, r.stderr)
	}
}

// TestCommandLineManners: combined short flags and several names work on
// every command, a bad flag is one line on stderr (never the help on
// stdout), unknown subcommands fail with 125, inspect prints an array.
func TestCommandLineManners(t *testing.T) {
	detached(t, "manners1", "busybox", "sleep", "100")
	detached(t, "manners2", "busybox", "sleep", "100")
	if ids := strings.Fields(must(t, "ps", "-aq")); len(ids) < 2 {
		t.Errorf("ps -aq listed %v", ids)
	}
	if r := skiff(t, "ps", "--bogus"); r.status != 125 || r.stdout != "" || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("ps --bogus: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"network", "bogus"}, {"system", "bogus"}} {
		if r := skiff(t, args...); r.status != 125 || !strings.Contains(r.stderr, "unknown command") {
			t.Errorf("%v: status %d, %q", args, r.status, r.stderr)
		}
	}
	if out := must(t, "--version"); !strings.HasPrefix(out, "skiff version ") {
		t.Errorf("--version: %q", out)
	}
	var all []map[string]any
	if err := json.Unmarshal([]byte(must(t, "inspect", "manners1", "manners2")), &all); err != nil || len(all) != 2 {
		t.Errorf("inspect of two containers: %d objects, %v", len(all), err)
	}
	if out := must(t, "stats", "--no-stream", "manners1", "manners2"); !strings.Contains(out, "manners1") || !strings.Contains(out, "manners2") {
		t.Errorf("stats of two containers:\n%s", out)
	}
	if r := skiff(t, "logs", "manners1", "manners2"); r.status != 125 {
		t.Errorf("logs of two containers: status %d, want 125 (it takes one)", r.status)
	}
}

// TestForwardingIsAnnounced: skiff says so when it turns on IPv4
// forwarding, a setting of the whole host, and only then.
func TestForwardingIsAnnounced(t *testing.T) {
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := skiff(t, "network", "create", "fwd1")
	defer skiff(t, "network", "rm", "fwd1")
	if r.status != 0 || !strings.Contains(r.stderr, "turned on IPv4 forwarding") || strings.TrimSpace(readFile(t, "/proc/sys/net/ipv4/ip_forward")) != "1" {
		t.Errorf("network create with forwarding off: status %d, stderr %q", r.status, r.stderr)
	}
	r = skiff(t, "network", "create", "fwd2")
	defer skiff(t, "network", "rm", "fwd2")
	if r.status != 0 || r.stderr != "" {
		t.Errorf("network create with forwarding on: status %d, stderr %q", r.status, r.stderr)
	}
}

// TestCommitKeepsTheProcess: commit keeps the container's environment,
// working folder and command in the new image, and --change edits them.
func TestCommitKeepsTheProcess(t *testing.T) {
	must(t, "run", "--name", "tocommit", "-e", "A=1", "-e", "C=x,y", "-w", "/tmp", "busybox", "sh", "-c", "echo hi > /x")
	defer skiff(t, "rm", "tocommit")
	must(t, "commit", "tocommit", "kept")
	defer skiff(t, "rmi", "kept")
	if out := must(t, "run", "--rm", "kept", "sh", "-c", "echo $A $C; pwd"); out != "1 x,y\n/tmp\n" {
		t.Errorf("the committed image's env and workdir: %q", out)
	}
	must(t, "commit", "--change", "ENV B=2", "--change", `CMD ["cat", "/x"]`, "tocommit", "changed")
	defer skiff(t, "rmi", "changed")
	if out := must(t, "run", "--rm", "changed"); out != "hi\n" {
		t.Errorf("the committed image's CMD: %q", out)
	}
	if out := must(t, "run", "--rm", "changed", "sh", "-c", "echo $A$B"); out != "12\n" {
		t.Errorf("the committed image's ENV with --change: %q", out)
	}
}

// TestIPCSharesShm: a container that joins another's IPC namespace sees
// its /dev/shm, both ways, as Docker's --ipc container:NAME does; its own
// mount there is a bind, not a tmpfs of its own.
func TestIPCSharesShm(t *testing.T) {
	detached(t, "shmowner", "--network", "none", "busybox", "sh", "-c", "echo from-owner > /dev/shm/a; sleep 100")
	detached(t, "shmjoiner", "--network", "none", "--ipc", "container:shmowner", "busybox", "sh", "-c", "echo from-joiner > /dev/shm/b; sleep 100")
	waitFor(t, "the joiner's file", func() bool { return skiff(t, "exec", "shmowner", "cat", "/dev/shm/b").stdout == "from-joiner\n" })
	if out := must(t, "exec", "shmjoiner", "cat", "/dev/shm/a"); out != "from-owner\n" {
		t.Errorf("the joiner reads the owner's /dev/shm/a: %q", out)
	}
	a := must(t, "exec", "shmowner", "stat", "-c", "%d:%i", "/dev/shm")
	b := must(t, "exec", "shmjoiner", "stat", "-c", "%d:%i", "/dev/shm")
	if a != b {
		t.Errorf("/dev/shm is %s in the owner and %s in the joiner: not the same folder", a, b)
	}
}
