//go:build vmtest

package test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestPsFormatAndFilter: ps -q, --format with Docker's field names and a
// table, --filter by status, name, id and ancestor (one key ORs, several
// AND), and images -q.
func TestPsFormatAndFilter(t *testing.T) {
	detached(t, "fmt-up", "busybox", "sleep", "100")
	must(t, "run", "--name", "fmt-done", "busybox", "true")
	t.Cleanup(func() { skiff(t, "rm", "-f", "fmt-done") })
	lines := func(args ...string) []string {
		return strings.Fields(must(t, append([]string{"ps"}, args...)...))
	}
	if got := lines("--format", "{{.Names}}:{{.State}}", "--filter", "name=fmt-"); !slices.Equal(got, []string{"fmt-up:running"}) {
		t.Errorf("ps --format --filter name=: %v", got)
	}
	if got := lines("-a", "--format", "{{.Names}}:{{.State}}", "--filter", "name=fmt-"); len(got) != 2 || !slices.Contains(got, "fmt-done:exited") {
		t.Errorf("ps -a: %v", got)
	}
	if got := lines("--filter", "status=exited", "--filter", "name=fmt-", "--format", "{{.Names}}"); !slices.Equal(got, []string{"fmt-done"}) {
		t.Errorf("a status filter lists exited containers without -a, as Docker's does: %v", got)
	}
	if got := lines("--filter", "status=exited", "--filter", "status=running", "--filter", "name=fmt-", "-q"); len(got) != 2 {
		t.Errorf("two values of one key OR: %v", got)
	}
	id := inspect(t, "fmt-up").ID
	if got := lines("--filter", "id="+id[:6], "--filter", "ancestor=busybox", "-q"); !slices.Equal(got, []string{id[:12]}) {
		t.Errorf("--filter id= ancestor=: %v, want [%s]", got, id[:12])
	}
	table := must(t, "ps", "--filter", "name=fmt-up", "--format", `table {{.ID}}\t{{.Names}}`)
	if rows := strings.Split(strings.TrimSpace(table), "\n"); len(rows) != 2 || !strings.HasPrefix(rows[0], "CONTAINER ID") || !strings.Contains(rows[1], "fmt-up") {
		t.Errorf("a table format:\n%s", table)
	}
	if got := lines("-a", "--filter", "ancestor=nosuchimage", "-q"); len(got) != 0 {
		t.Errorf("ancestor=nosuchimage: %v", got)
	}
	images := strings.Fields(must(t, "images", "-q"))
	if len(images) == 0 || len(images[0]) != 12 {
		t.Errorf("images -q: %v", images)
	}
	for _, bad := range [][]string{{"ps", "--filter", "color=red"}, {"ps", "--filter", "status"}, {"ps", "--format", "{{.Nope}}"},
		{"ps", "--format", "{{"}, {"inspect", "-f", "{{.Nope}}", "fmt-up"}} {
		if r := skiff(t, bad...); r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: status %d, %q: want 125 and one line", bad, r.status, r.stderr)
		}
	}
}

// TestInspectFormat: inspect -f takes the templates people copy from
// Docker, over Docker's field names, with its json and join functions.
func TestInspectFormat(t *testing.T) {
	detached(t, "fmt-inspect", "-e", "COLOR=blue", "-p", "8093:80", "-m", "32m", "busybox", "sleep", "100")
	i := inspect(t, "fmt-inspect")
	got := must(t, "inspect", "-f", "{{.State.Pid}} {{.NetworkSettings.IPAddress}} {{.Name}} {{.State.Status}} {{.HostConfig.Memory}}", "fmt-inspect")
	if want := fmt.Sprintf("%d %s /fmt-inspect running %d\n", i.State.Pid, i.Network.IP, 32<<20); got != want {
		t.Errorf("inspect -f: %q, want %q", got, want)
	}
	var env []string
	if err := json.Unmarshal([]byte(must(t, "inspect", "-f", "{{json .Config.Env}}", "fmt-inspect")), &env); err != nil || !slices.Contains(env, "COLOR=blue") {
		t.Errorf("{{json .Config.Env}}: %v %v", env, err)
	}
	ports := must(t, "inspect", "-f", `{{range $p, $b := .NetworkSettings.Ports}}{{$p}} {{(index $b 0).HostPort}}{{end}}`, "fmt-inspect")
	if ports != "80/tcp 8093\n" {
		t.Errorf("ports: %q", ports)
	}
	must(t, "pause", "fmt-inspect")
	defer skiff(t, "unpause", "fmt-inspect")
	if got := must(t, "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "fmt-inspect"); got != "paused true\n" {
		t.Errorf("a paused container: %q", got)
	}
}
