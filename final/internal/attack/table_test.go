package attack

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFormatParse(t *testing.T) {
	table := Table{
		Process: map[string]string{"uid": "1000", "capeff": "0000000000000000", "seccomp": "0"},
		Results: []Result{
			{Name: "keyring", Verdict: Blocked, Code: "EPERM", Detail: "add_key: operation not permitted"},
			{Name: "mount", Verdict: Escaped, Code: "mounted", Detail: "mounted a tmpfs\non /mnt"},
			{Name: "setuid-exec", Verdict: Skipped, Code: "", Detail: ""},
			{Name: "dmesg", Verdict: Error, Code: "two words", Detail: "  spaced   out  "},
		},
	}
	var b strings.Builder
	if err := table.Format(&b); err != nil {
		t.Fatal(err)
	}
	want := `# capeff=0000000000000000 seccomp=0 uid=1000
keyring         BLOCKED EPERM        add_key: operation not permitted
mount           ESCAPED mounted      mounted a tmpfs on /mnt
setuid-exec     SKIPPED -
dmesg           ERROR   two-words    spaced out
`
	if b.String() != want {
		t.Fatalf("Format:\n%s\nwant:\n%s", b.String(), want)
	}
	got, err := Parse("some noise before\n" + b.String())
	if err == nil {
		t.Fatalf("Parse accepted a line that is not a result: %+v", got)
	}
	got, err = Parse("\n# a comment without keys\n" + b.String() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Process) != 3 || got.Process["uid"] != "1000" || got.Process["seccomp"] != "0" {
		t.Errorf("process %v", got.Process)
	}
	wantResults := []Result{
		{"keyring", Blocked, "EPERM", "add_key: operation not permitted"},
		{"mount", Escaped, "mounted", "mounted a tmpfs on /mnt"},
		{"setuid-exec", Skipped, "-", ""},
		{"dmesg", Error, "two-words", "spaced out"},
	}
	if len(got.Results) != len(wantResults) {
		t.Fatalf("%d results, want %d: %+v", len(got.Results), len(wantResults), got.Results)
	}
	for i, r := range got.Results {
		if r != wantResults[i] {
			t.Errorf("result %d: %+v, want %+v", i, r, wantResults[i])
		}
	}
	if r, ok := got.Get("mount"); !ok || r.Code != "mounted" {
		t.Errorf("Get(mount) = %+v, %v", r, ok)
	}
	if _, ok := got.Get("nothing"); ok {
		t.Errorf("Get found an attempt that is not there")
	}
}

func TestParseErrors(t *testing.T) {
	for text, want := range map[string]string{
		"":                                       "no results",
		"# uid=0\n":                              "no results",
		"mount BLOCKED\n":                        "line 1",
		"mount MAYBE EPERM\n":                    `unknown verdict "MAYBE"`,
		"mount BLOCKED EPERM\nmount ESCAPED x\n": "mount appears twice",
	} {
		if _, err := Parse(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", text, err, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	a := Table{Results: []Result{{Name: "mount", Verdict: Blocked, Code: "EPERM"}, {Name: "keyring", Verdict: Escaped, Code: "key-added"}}}
	b := Table{Results: []Result{{Name: "keyring", Verdict: Blocked, Code: "EPERM"}, {Name: "bpf", Verdict: Blocked, Code: "-"}}}
	got := Markdown([]string{"skiff", "a|b"}, []Table{a, b})
	want := `| attack | skiff | a\|b |
| --- | --- | --- |
| mount | BLOCKED EPERM |  |
| keyring | **ESCAPED key-added** | BLOCKED EPERM |
| bpf |  | BLOCKED |
`
	if got != want {
		t.Errorf("Markdown:\n%s\nwant:\n%s", got, want)
	}
}

func TestAttackNames(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	seen := map[string]bool{}
	for _, a := range All {
		if !valid.MatchString(a.Name) || len(a.Name) > nameWidth || seen[a.Name] || a.About == "" || a.try == nil {
			t.Errorf("attack %q: want a unique lower-case name of at most %d characters, an About and a function", a.Name, nameWidth)
		}
		seen[a.Name] = true
		if got, ok := Find(a.Name); !ok || got.Name != a.Name {
			t.Errorf("Find(%q) = %v, %v", a.Name, got.Name, ok)
		}
	}
	if _, ok := Find("no-such-attack"); ok {
		t.Error("Find found an attack that does not exist")
	}
}

func TestPastTheCheck(t *testing.T) {
	for _, c := range []struct {
		err     error
		verdict Verdict
		code    string
	}{
		{nil, Escaped, "done"},
		{unix.EPERM, Blocked, "EPERM"},
		{unix.ENOSYS, Blocked, "ENOSYS"},
		{unix.ENOEXEC, Escaped, "ENOEXEC"},
		{errors.New("no errno"), Error, "-"},
	} {
		r := pastTheCheck("call", c.err, "effect")
		if r.Verdict != c.verdict || r.Code != c.code {
			t.Errorf("pastTheCheck(%v) = %+v, want %s %s", c.err, r, c.verdict, c.code)
		}
	}
}

func TestCurrentChoice(t *testing.T) {
	for in, want := range map[string]string{
		"always [madvise] never\n": "madvise",
		"0\n":                      "0\n",
		"\n":                       "\n",
		"/sbin/hotplug":            "/sbin/hotplug\n",
	} {
		if got := currentChoice(in); got != want {
			t.Errorf("currentChoice(%q) = %q, want %q", in, got, want)
		}
	}
}
