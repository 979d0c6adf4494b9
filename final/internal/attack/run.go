package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The flags of the program's own children: TryFlag NAME makes one
// attempt and prints its result as JSON; ProbeFlag NAME runs a probe
// (Probe) inside what an attempt made, a namespace or a setuid program.
const (
	TryFlag   = "--try"
	ProbeFlag = "--probe"
)

// Timeout bounds one attempt: nothing here should block, but a VM under
// emulation is slow.
const Timeout = time.Minute

// Run makes each attempt in a child process, this program again (exe,
// usually /proc/self/exe) with TryFlag, so that what one attempt changes
// in its process (its root, its user) does not change the next.
func Run(ctx context.Context, exe string, attacks []Attack) Table {
	t := Table{Process: Self()}
	for _, a := range attacks {
		t.Results = append(t.Results, spawn(ctx, exe, a.Name))
	}
	return t
}

func spawn(ctx context.Context, exe, name string) Result {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, TryFlag, name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r Result
	if err == nil {
		err = json.Unmarshal(out, &r)
	}
	if err != nil {
		return Result{Name: name, Verdict: Error, Code: "-",
			Detail: fmt.Sprintf("the attempt's process: %v: %s", err, strings.TrimSpace(stderr.String()+" "+string(out)))}
	}
	return r
}

// Probe runs the probe called name and returns what it prints.
func Probe(name string) (string, error) {
	switch name {
	case "ids":
		return ProbeIDs(), nil
	case "userns":
		return ProbeUserns(), nil
	}
	return "", fmt.Errorf("unknown probe %q", name)
}

// Self is what this process is, from /proc/self/status: its real and
// effective uid, effective capabilities, no_new_privs and seccomp mode.
func Self() map[string]string {
	keys := map[string]string{"CapEff": "capeff", "NoNewPrivs": "no_new_privs", "Seccomp": "seccomp"}
	self := map[string]string{"uid": fmt.Sprint(os.Getuid()), "euid": fmt.Sprint(os.Geteuid())}
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if name, ok := keys[k]; ok {
			self[name] = strings.TrimSpace(v)
		}
	}
	return self
}
