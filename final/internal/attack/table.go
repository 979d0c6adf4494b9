// Package attack tries, from inside a container, the ways out that the
// chapters discuss (lesson 01's chroot escape, the host's knobs in /proc
// and /sys, device nodes, mounts, the clock, modules, keyrings, user
// namespaces, setuid programs, host processes, raw sockets...), each in a
// process of its own, and reports for each one line: BLOCKED with the
// errno (or the reason) when the kernel refused, ESCAPED when the attempt
// had its effect. Command skiff-attack runs it; the VM tests run that
// under skiff's settings and under runc's default spec and compare the
// tables.
//
// An attempt is judged by its effect, never by assumption: a write that
// the kernel took, a mount that shows in mountinfo, a key id returned, a
// device node opened and read. Attempts that would harm the host if they
// worked are made harmless: the clock is set to its own value, a sysctl
// is written back with what it holds, a module is garbage that the
// kernel refuses after its permission check. For those, an errno that
// only comes after the permission check (ENOEXEC for the module) is the
// effect.
package attack

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Verdict is what became of an attempt.
type Verdict string

const (
	// Blocked: the kernel refused (Code is the errno), or the attempt
	// had no effect (Code says why: masked, same-root, not-visible...).
	Blocked Verdict = "BLOCKED"
	// Escaped: the attempt had its effect.
	Escaped Verdict = "ESCAPED"
	// Skipped: the attempt does not apply here (Code says why: a
	// setuid program gives nothing to root).
	Skipped Verdict = "SKIPPED"
	// Error: the attempt could not be made or judged.
	Error Verdict = "ERROR"
)

var verdicts = []Verdict{Blocked, Escaped, Skipped, Error}

// Result is one attempt.
type Result struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	// Code is one word: the errno's name (EPERM) when a call failed,
	// else a short reason or effect (masked, wrote, mounted).
	Code   string `json:"code"`
	Detail string `json:"detail"` // one line, for people
}

// nameWidth and codeWidth align the columns of Format's lines.
const nameWidth, codeWidth = 15, 12

// String is the result's line: NAME VERDICT CODE DETAIL, where CODE is
// one word ("-" when there is none) and DETAIL the rest of the line.
func (r Result) String() string {
	code := strings.Join(strings.Fields(r.Code), "-")
	if code == "" {
		code = "-"
	}
	detail := strings.Join(strings.Fields(r.Detail), " ")
	return strings.TrimRight(fmt.Sprintf("%-*s %-7s %-*s %s", nameWidth, r.Name, r.Verdict, codeWidth, code, detail), " ")
}

// Table is a run of the suite: the process the attempts ran as, and one
// result per attempt, in the order they ran.
type Table struct {
	// Process is what the suite's own process was, from its status:
	// uid, euid, capeff, no_new_privs, seccomp.
	Process map[string]string `json:"process"`
	Results []Result          `json:"results"`
}

// Get returns the result of the attempt called name.
func (t Table) Get(name string) (Result, bool) {
	i := slices.IndexFunc(t.Results, func(r Result) bool { return r.Name == name })
	if i < 0 {
		return Result{}, false
	}
	return t.Results[i], true
}

// Format writes the table: a comment line with the process's keys, then
// one line per result.
func (t Table) Format(w io.Writer) error {
	var b strings.Builder
	if len(t.Process) > 0 {
		b.WriteString("#")
		for _, k := range slices.Sorted(maps.Keys(t.Process)) {
			fmt.Fprintf(&b, " %s=%s", k, strings.Join(strings.Fields(t.Process[k]), "-"))
		}
		b.WriteString("\n")
	}
	for _, r := range t.Results {
		b.WriteString(r.String() + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Parse reads what Format wrote; other comment lines and blank lines are
// skipped.
func Parse(text string) (Table, error) {
	t := Table{Process: map[string]string{}}
	for i, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.HasPrefix(fields[0], "#") {
			for _, f := range fields {
				if k, v, ok := strings.Cut(strings.TrimPrefix(f, "#"), "="); ok && k != "" {
					t.Process[k] = v
				}
			}
			continue
		}
		if len(fields) < 3 {
			return Table{}, fmt.Errorf("line %d: %q: want NAME VERDICT CODE [DETAIL]", i+1, line)
		}
		r := Result{Name: fields[0], Verdict: Verdict(fields[1]), Code: fields[2], Detail: strings.Join(fields[3:], " ")}
		if !slices.Contains(verdicts, r.Verdict) {
			return Table{}, fmt.Errorf("line %d: unknown verdict %q", i+1, fields[1])
		}
		if _, dup := t.Get(r.Name); dup {
			return Table{}, fmt.Errorf("line %d: %s appears twice", i+1, r.Name)
		}
		t.Results = append(t.Results, r)
	}
	if len(t.Results) == 0 {
		return Table{}, fmt.Errorf("no results in %q", text)
	}
	return t, nil
}

// Cell is a result as a table's cell: the verdict and its code, the
// escapes in bold.
func (r Result) Cell() string {
	cell := string(r.Verdict)
	if r.Code != "" && r.Code != "-" {
		cell += " " + r.Code
	}
	if r.Verdict == Escaped {
		cell = "**" + cell + "**"
	}
	return cell
}

// Markdown is one Markdown table of several runs, one column each under
// its heading: a row per attempt, in the order of the first run that
// has it.
func Markdown(headings []string, tables []Table) string {
	var names []string
	for _, t := range tables {
		for _, r := range t.Results {
			if !slices.Contains(names, r.Name) {
				names = append(names, r.Name)
			}
		}
	}
	escape := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("| attack |")
	for _, h := range headings {
		b.WriteString(" " + escape(h) + " |")
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(headings)) + "\n")
	for _, name := range names {
		b.WriteString("| " + name + " |")
		for i := range headings {
			cell := ""
			if i < len(tables) {
				if r, ok := tables[i].Get(name); ok {
					cell = escape(r.Cell())
				}
			}
			b.WriteString(" " + cell + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}
