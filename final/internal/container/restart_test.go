package container

import "testing"

func TestParseRestartPolicy(t *testing.T) {
	good := map[string]RestartPolicy{
		"no":             {},
		"always":         {Name: "always"},
		"unless-stopped": {Name: "unless-stopped"},
		"on-failure":     {Name: "on-failure"},
		"on-failure:3":   {Name: "on-failure", MaximumRetryCount: 3},
		"on-failure:0":   {Name: "on-failure"},
	}
	for in, want := range good {
		got, err := ParseRestartPolicy(in)
		if err != nil || got != want {
			t.Errorf("ParseRestartPolicy(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, _ := ParseRestartPolicy(got.String()); again != got {
			t.Errorf("%q does not read back: %q gives %+v", in, got.String(), again)
		}
	}
	for _, in := range []string{"", "sometimes", "always:3", "no:1", "on-failure:", "on-failure:-1", "on-failure:x", "ALWAYS", "on-failure:99999999999999999999"} {
		if p, err := ParseRestartPolicy(in); err == nil {
			t.Errorf("ParseRestartPolicy(%q) = %+v, want an error", in, p)
		}
	}
}

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		policy           string
		status, restarts int
		stopped, want    bool
	}{
		{"no", 1, 0, false, false},
		{"always", 0, 100, false, true},
		{"always", 1, 0, true, false},
		{"unless-stopped", 0, 0, false, true},
		{"unless-stopped", 137, 0, true, false},
		{"on-failure", 0, 0, false, false},
		{"on-failure", 1, 1000, false, true},
		{"on-failure:2", 3, 0, false, true},
		{"on-failure:2", 3, 1, false, true},
		{"on-failure:2", 3, 2, false, false},
		{"on-failure:2", 3, 0, true, false},
	}
	for _, tt := range tests {
		p, err := ParseRestartPolicy(tt.policy)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.ShouldRestart(tt.status, tt.restarts, tt.stopped); got != tt.want {
			t.Errorf("%s, status %d after %d restarts, stopped by a user %v: restart %v, want %v",
				tt.policy, tt.status, tt.restarts, tt.stopped, got, tt.want)
		}
	}
}

func TestRestartConflictsWithRm(t *testing.T) {
	cfg := Config{AutoRemove: true, Restart: RestartPolicy{Name: "always"}}
	if err := cfg.validateRestart(); err == nil {
		t.Error("--restart always with --rm passes validation")
	}
}

func TestStartsAtBoot(t *testing.T) {
	for policy, want := range map[string][2]bool{ // not stopped by a user, stopped
		"no": {false, false}, "on-failure:3": {false, false}, "always": {true, true}, "unless-stopped": {true, false},
	} {
		p, _ := ParseRestartPolicy(policy)
		c := &Container{Dir: t.TempDir(), Config: Config{Restart: p}}
		if got := c.StartsAtBoot(); got != want[0] {
			t.Errorf("%s: starts at boot %v, want %v", policy, got, want[0])
		}
		if err := c.MarkStopped(); err != nil {
			t.Fatal(err)
		}
		if got := c.StartsAtBoot(); got != want[1] {
			t.Errorf("%s, stopped by a user: starts at boot %v, want %v", policy, got, want[1])
		}
		if c.ClearStopped(); c.StartsAtBoot() != want[0] {
			t.Errorf("%s: started again, a user's stop is still remembered", policy)
		}
	}
}
