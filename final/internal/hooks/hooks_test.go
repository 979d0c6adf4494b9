package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func sh(script string) specs.Hook {
	return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Env: []string{"HOOK=yes"}}
}

func TestRunPassesTheStateAndStopsAtAFailure(t *testing.T) {
	dir := t.TempDir()
	state := specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: 42, Bundle: "/b"}
	err := Run("createRuntime", []specs.Hook{
		sh("cat > " + filepath.Join(dir, "stdin") + "; echo $HOOK > " + filepath.Join(dir, "env")),
		sh("echo broken >&2; exit 3"),
		sh("touch " + filepath.Join(dir, "after")),
	}, state)
	if err == nil || !strings.Contains(err.Error(), "createRuntime hook /bin/sh") || !strings.Contains(err.Error(), "broken") {
		t.Errorf("err = %v, want the hook's kind, path and stderr", err)
	}
	var got specs.State
	data, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if json.Unmarshal(data, &got) != nil || got.ID != "c1" || got.Pid != 42 || got.Status != specs.StateCreating {
		t.Errorf("the hook read %q", data)
	}
	if env, _ := os.ReadFile(filepath.Join(dir, "env")); string(env) != "yes\n" {
		t.Errorf("the hook's environment: %q", env)
	}
	if _, err := os.Stat(filepath.Join(dir, "after")); err == nil {
		t.Error("Run went on after a failed hook")
	}
}

func TestRunEachRunsAll(t *testing.T) {
	dir := t.TempDir()
	err := RunEach("poststop", []specs.Hook{sh("exit 1"), sh("touch " + filepath.Join(dir, "after"))}, specs.State{})
	if err == nil {
		t.Error("a failed hook was not reported")
	}
	if _, err := os.Stat(filepath.Join(dir, "after")); err != nil {
		t.Error("RunEach stopped at a failed hook")
	}
}

func TestTimeout(t *testing.T) {
	one := 1
	h := sh("sleep 5")
	h.Timeout = &one
	if err := Run("prestart", []specs.Hook{h}, specs.State{}); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("err = %v, want a timeout", err)
	}
	zero := 0
	h.Timeout = &zero
	if err := Run("prestart", []specs.Hook{h}, specs.State{}); err == nil {
		t.Error("a zero timeout was accepted")
	}
}
