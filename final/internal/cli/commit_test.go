package cli

import (
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/image"
)

func TestCommittedConfig(t *testing.T) {
	p := specs.Process{Args: []string{"/entry", "serve", "-v"}, Env: []string{"A=1"}, Cwd: "/srv", User: specs.User{UID: 1000, GID: 100}}
	got := committedConfig(p, image.Config{Entrypoint: []string{"/entry"}, Cmd: []string{"help"}})
	if !slices.Equal(got.Entrypoint, []string{"/entry"}) || !slices.Equal(got.Cmd, []string{"serve", "-v"}) ||
		got.WorkingDir != "/srv" || got.User != "1000:100" || !slices.Equal(got.Env, []string{"A=1"}) {
		t.Errorf("committedConfig = %+v", got)
	}
	for change, check := range map[string]func(image.Config) bool{
		"ENV B=2":            func(c image.Config) bool { return slices.Contains(c.Env, "B=2") },
		"ENV A 3":            func(c image.Config) bool { return slices.Equal(c.Env, []string{"A=3"}) },
		"WORKDIR /app":       func(c image.Config) bool { return c.WorkingDir == "/app" },
		`CMD ["cat", "/x"]`:  func(c image.Config) bool { return slices.Equal(c.Cmd, []string{"cat", "/x"}) },
		"entrypoint echo hi": func(c image.Config) bool { return slices.Equal(c.Entrypoint, []string{"/bin/sh", "-c", "echo hi"}) },
		"USER nobody":        func(c image.Config) bool { return c.User == "nobody" },
	} {
		c := got
		if err := applyChange(&c, change); err != nil || !check(c) {
			t.Errorf("--change %q: %+v, %v", change, c, err)
		}
	}
	for _, bad := range []string{"EXPOSE 80", "WORKDIR relative", `CMD ["unclosed"`, "ENV"} {
		c := got
		if err := applyChange(&c, bad); err == nil {
			t.Errorf("--change %q was accepted", bad)
		}
	}
}
