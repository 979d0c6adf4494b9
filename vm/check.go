package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/urfave/cli/v3"
)

// make check-NN runs chapter NN's tests against a learner's code, as root
// in the VM, and prints a short report. The tests always come from the
// repository: the lesson's own (its unit tests and the VM tests that ask
// the kernel), or with EX=K exercise K's, exercises/NN/exK_test.go.

// target is what a check builds and tests.
type target struct {
	root     string // the repository
	chapter  string // "03", also for skiff's chapters 08-10
	module   string // the module's folder in the repository: lesson-03-pid, final
	dir      string // the learner's code
	exercise string // "" or exercise K's number
	lesson   *lesson
}

func checkAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 2 {
		return errors.New("usage: vm check [--dir DIR] [--exercise K] REPO NN")
	}
	t, err := newTarget(cmd.Args().Get(0), cmd.Args().Get(1), cmd.String("dir"), cmd.String("exercise"))
	if err != nil {
		return err
	}
	c := cache{cmd.String("cache")}
	ok, err := t.check(c, os.Stdout, filepath.Join(c.dir, "check-"+t.chapter+".log"))
	if err != nil {
		return err
	}
	if !ok {
		return cli.Exit("", 1)
	}
	return nil
}

// newTarget finds the module of chapter NN and the learner's code: DIR,
// or work/LESSON from make exercise-NN, or, for an exercise or skiff's
// chapters, the repository's own folder, which the learner may edit.
func newTarget(root, chapter, dir, exercise string) (*target, error) {
	t := &target{root: root, chapter: chapter, dir: dir, exercise: exercise}
	if l, err := findLesson(root, chapter); err == nil {
		t.lesson, t.module = &l, l.name
	} else if chapter >= "08" && chapter <= "10" {
		t.module = "final"
	} else {
		return nil, fmt.Errorf("no chapter %s: lessons are 01 to 07, skiff's chapters 08 to 10", chapter)
	}
	if t.module == "final" && exercise == "" && dir == "" {
		t.dir = filepath.Join(root, "final")
	}
	if t.dir == "" {
		t.dir = filepath.Join(root, "work", t.module)
		if _, err := os.Stat(t.dir); err != nil && exercise != "" {
			t.dir = filepath.Join(root, t.module)
		} else if err != nil {
			return nil, fmt.Errorf("%s does not exist: run 'make exercise-%s' first (or give DIR=%s to check the lesson itself)",
				relTo(root, t.dir), chapter, t.module)
		}
	}
	if _, err := os.Stat(filepath.Join(t.dir, "go.mod")); err != nil {
		return nil, fmt.Errorf("%s is not a Go module (no go.mod): give DIR=, the folder of your %s", relTo(root, t.dir), t.module)
	}
	if exercise != "" {
		if _, err := os.Stat(t.exerciseTest()); err != nil {
			return nil, fmt.Errorf("chapter %s has no exercise %s with a test (%s)", chapter, exercise, relTo(root, t.exerciseTest()))
		}
	}
	return t, nil
}

func (t *target) exerciseTest() string {
	return filepath.Join(t.root, "exercises", t.chapter, "ex"+t.exercise+"_test.go")
}

// testDir is where the module's VM tests live: the lesson folder, or
// final/test.
func (t *target) testDir() string {
	if t.module == "final" {
		return "test"
	}
	return "."
}

// runFilter picks the tests: the exercise's, or all but the exercises'.
func (t *target) runFilter() string {
	if t.exercise != "" {
		return fmt.Sprintf("-test.run=^TestEx%s_%s", t.chapter, t.exercise)
	}
	return "-test.skip=^TestEx[0-9][0-9]_"
}

func (t *target) what() string {
	if t.exercise != "" {
		return fmt.Sprintf("chapter %s's exercise %s", t.chapter, t.exercise)
	}
	if t.lesson != nil {
		return "lesson " + t.chapter + "'s tests"
	}
	return "skiff's tests"
}

// check builds the learner's code with the tests, runs them in the VM and
// reports. It returns whether every check passed; err is for a check that
// could not run.
func (t *target) check(c cache, out io.Writer, logFile string) (bool, error) {
	fmt.Fprintf(out, "Checking %s with %s, as root in the VM...\n", relTo(t.root, t.dir), t.what())
	build, err := os.MkdirTemp("", "check-*")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(build)
	bins, testBin, buildErr := t.build(build)
	if buildErr != nil {
		fmt.Fprintf(out, "\nYour code does not build:\n\n%s\nFix what the compiler says (file and line first), and run make check-%s again.\n",
			indent(firstLines(buildErr.Error(), 20), "    "), t.chapter)
		return false, nil
	}
	g := guest{rootfs: filepath.Join(c.dir, "rootfs"), bins: bins, cgroup: "v2", mode: "test", timeout: "9m",
		tests: []testRun{{name: t.module, bin: testBin, args: t.runFilter()}}}
	vmlinux, err := g.prepare(c, "", "")
	if err != nil {
		return false, err
	}
	var console bytes.Buffer
	started := time.Now()
	status, err := g.run(vmlinux, 10*time.Minute, &console)
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(logFile, console.Bytes(), 0o644); err != nil {
		return false, err
	}
	results := parseTestOutput(console.String())
	if len(results) == 0 {
		return false, fmt.Errorf("no test ran in the VM (status %d); the VM's output is in %s", status, logFile)
	}
	r := report{target: t, results: results, log: logFile, took: time.Since(started)}
	return r.write(out), nil
}

// build copies the learner's code and the repository's tests into dir and
// builds the programs and the test binary, as make build would.
func (t *target) build(dir string) (bins []string, testBin string, err error) {
	var exercises []string
	if t.exercise != "" {
		exercises = append(exercises, t.exerciseTest())
	}
	return t.buildWith(dir, exercises)
}

// buildWith builds with these exercise tests beside the module's own.
func (t *target) buildWith(dir string, exercises []string) (bins []string, testBin string, err error) {
	src := filepath.Join(dir, "src")
	if err := copyTree(t.dir, src, func(rel string) bool {
		return !(strings.HasSuffix(rel, "_test.go") && filepath.Dir(rel) == t.testDir())
	}); err != nil {
		return nil, "", err
	}
	tests, _ := filepath.Glob(filepath.Join(t.root, t.module, t.testDir(), "*_test.go"))
	tests = append(tests, exercises...)
	for _, test := range tests {
		if err := copyInto(test, filepath.Join(src, t.testDir(), filepath.Base(test))); err != nil {
			return nil, "", err
		}
	}
	pkgs, err := goCmd(src, "list", "-f", `{{if eq .Name "main"}}{{.Dir}}{{end}}`, "./...")
	if err != nil {
		return nil, "", err
	}
	for _, pkg := range strings.Fields(pkgs) {
		name := binaryName(t.module, strings.TrimPrefix(strings.TrimPrefix(pkg, src), "/"))
		bin := filepath.Join(dir, "bin", name)
		ldflags := "-X skiff/internal/cli.DefaultBusybox=" + filepath.Join(t.root, ".cache", "rootfs")
		if _, err := goCmd(src, "build", "-trimpath", "-ldflags", ldflags, "-o", bin, pkg); err != nil {
			return nil, "", err
		}
		bins = append(bins, bin)
	}
	testBin = filepath.Join(dir, t.module+".test")
	_, err = goCmd(src, "test", "-c", "-tags", "vmtest", "-o", testBin, "./"+t.testDir())
	return bins, testBin, err
}

// binaryName follows the Makefile: a lesson's main package is bin/LESSON,
// a program in a subfolder bin/LESSON-FOLDER, a module's cmd/NAME bin/NAME.
func binaryName(module, rel string) string {
	switch {
	case rel == "":
		return module
	case strings.HasPrefix(rel, "cmd/"):
		return filepath.Base(rel)
	}
	return module + "-" + filepath.Base(rel)
}

// goCmd runs go in dir outside the repository's workspace: the learner's
// module stands alone, with its own go.mod.
func goCmd(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.ReplaceAll(stderr.String(), dir+"/", "")
		if msg == "" {
			msg = err.Error()
		}
		return "", errors.New(msg)
	}
	return stdout.String(), nil
}

// copyTree copies the regular files of from into to that keep says to.
func copyTree(from, to string, keep func(rel string) bool) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			if rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !keep(rel) {
			return nil
		}
		return copyInto(p, filepath.Join(to, rel))
	})
}

// copyInto copies a file, keeping its mode, and makes the folders it goes in.
func copyInto(from, to string) error {
	info, err := os.Stat(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return copyFile(from, to, info.Mode().Perm())
}

// report turns the tests' results into what a beginner reads.
type report struct {
	target  *target
	results []guestTest
	log     string
	took    time.Duration
}

// check is one test's result as the report shows it.
type checkLine struct {
	test    guestTest
	what    string // the test's name in words
	reread  string // docs/NN-x.md, "Section"
	message []string
}

func (r report) write(out io.Writer) bool {
	t := r.target
	hints := rereadHints(t.root)
	var fresh, earlier []checkLine
	previous := previousTests(t)
	for _, res := range r.results {
		line := checkLine{test: res, what: words(res.name), reread: hints[res.name], message: failureMessage(res.output)}
		if t.exercise != "" {
			line.reread = fmt.Sprintf("%s, exercise %s", chapterFile(t.root, t.chapter), t.exercise)
		}
		if previous[res.name] {
			earlier = append(earlier, line)
		} else {
			fresh = append(fresh, line)
		}
	}
	fmt.Fprintln(out)
	title := "What lesson " + t.chapter + " adds"
	if t.exercise != "" {
		title = fmt.Sprintf("Exercise %s of chapter %s", t.exercise, t.chapter)
	} else if t.lesson == nil {
		title = "skiff"
	}
	failedFresh := writeChecks(out, title, fresh, false)
	failedEarlier := 0
	if len(earlier) > 0 {
		prev, _ := t.lesson.previous()
		failedEarlier = writeChecks(out, fmt.Sprintf("Still working from lessons 01-%s", prev.number), earlier, true)
	}
	fmt.Fprintln(out)
	failed := failedFresh + failedEarlier
	if failed == 0 {
		fmt.Fprintf(out, "All %d checks pass (%.0f s in the VM). ", len(r.results), r.took.Seconds())
		switch {
		case t.exercise != "":
			fmt.Fprintf(out, "Exercise %s is done.\n", t.exercise)
		case t.lesson != nil:
			fmt.Fprintf(out, "Your lesson %s works.\n", t.chapter)
		default:
			fmt.Fprintln(out)
		}
		return true
	}
	fmt.Fprintf(out, "%d of %d checks fail. Reread the sections named above", failed, len(r.results))
	if t.lesson != nil && t.exercise == "" {
		fmt.Fprintf(out, ", fill the %s comments\n(grep -n '%s' %s/*.go)", t.lesson.todo(), t.lesson.todo(), relTo(t.root, t.dir))
	}
	fmt.Fprintf(out, " and run make check-%s again.\nEvery test's whole output is in %s.\n", t.chapter+exerciseArg(t.exercise), relTo(t.root, r.log))
	return false
}

func exerciseArg(k string) string {
	if k == "" {
		return ""
	}
	return " EX=" + k
}

// writeChecks prints one group of checks and returns how many failed.
// A group of earlier lessons' checks shows only its failures.
func writeChecks(out io.Writer, title string, lines []checkLine, failuresOnly bool) int {
	failed := 0
	for _, l := range lines {
		if l.test.result != "PASS" {
			failed++
		}
	}
	if failuresOnly && failed == 0 {
		fmt.Fprintf(out, "  %s: all %d checks pass\n", title, len(lines))
		return 0
	}
	fmt.Fprintf(out, "  %s\n", title)
	for _, l := range lines {
		if l.test.result == "PASS" {
			if !failuresOnly {
				fmt.Fprintf(out, "    ok    %s\n", l.what)
			}
			continue
		}
		mark := "FAIL"
		if l.test.result == "SKIP" {
			mark = "SKIP"
		}
		fmt.Fprintf(out, "    %s  %s\n", mark, l.what)
		for _, m := range l.message {
			fmt.Fprintf(out, "          %s\n", m)
		}
		if l.reread != "" {
			fmt.Fprintf(out, "          reread: %s\n", l.reread)
		}
	}
	return failed
}

// failureMessage is what a failed test said (t.Errorf, t.Fatalf), without
// the file:line prefixes, in at most four lines.
func failureMessage(output string) []string {
	var msg []string
	for _, line := range strings.Split(output, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "=== ") || strings.HasPrefix(trimmed, "--- ") {
			continue
		}
		if m := fileLine.FindStringSubmatch(trimmed); m != nil {
			trimmed = m[1]
		}
		if trimmed != "" {
			msg = append(msg, trimmed)
		}
	}
	if len(msg) > 4 {
		msg = append(msg[:4], "...")
	}
	return msg
}

var fileLine = regexp.MustCompile(`^[\w.-]+_test\.go:\d+: (.*)$`)

// words spells a test's name: TestPID1IgnoresSignals is "PID1 ignores
// signals".
func words(name string) string {
	runes := []rune(strings.TrimPrefix(name, "Test"))
	var out []string
	start := 0
	for i := 1; i < len(runes); i++ {
		next := rune(0)
		if i+1 < len(runes) {
			next = runes[i+1]
		}
		if unicode.IsUpper(runes[i]) && (!unicode.IsUpper(runes[i-1]) || unicode.IsLower(next)) {
			out, start = append(out, string(runes[start:i])), i
		}
	}
	out = append(out, string(runes[start:]))
	for i, w := range out {
		if r := []rune(w); len(r) > 1 && !unicode.IsUpper(r[1]) && !unicode.IsDigit(r[1]) {
			out[i] = strings.ToLower(w[:1]) + w[1:]
		}
	}
	return strings.Join(out, " ")
}

// previousTests are the tests lesson NN-1 has too: the report shows them
// apart from the new lesson's.
func previousTests(t *target) map[string]bool {
	tests := map[string]bool{}
	if t.lesson == nil || t.exercise != "" {
		return tests
	}
	prev, ok := t.lesson.previous()
	if !ok {
		return tests
	}
	for name := range testDocs(prev.dir) {
		tests[name] = true
	}
	return tests
}

// rereadHints maps every lesson test to the chapter section its
// //check:reread names, in the chapter of the first lesson that has it.
func rereadHints(root string) map[string]string {
	hints := map[string]string{}
	dirs, _ := filepath.Glob(filepath.Join(root, "lesson-*"))
	slices.Sort(dirs)
	for _, dir := range dirs {
		l := lesson{dir: dir, name: filepath.Base(dir), number: filepath.Base(dir)[7:9]}
		for name, doc := range testDocs(dir) {
			if _, seen := hints[name]; seen {
				continue
			}
			if section := directiveText(doc, rereadDirective); section != "" {
				hints[name] = fmt.Sprintf("%s, %q", l.chapter(), section)
			} else {
				hints[name] = l.chapter()
			}
		}
	}
	return hints
}

// testDocs maps the Test functions of a folder's test files to their doc
// comments.
func testDocs(dir string) map[string]*ast.CommentGroup {
	docs := map[string]*ast.CommentGroup{}
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
		if err != nil {
			continue
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				docs[fn.Name.Name] = fn.Doc
			}
		}
	}
	return docs
}

func directiveText(doc *ast.CommentGroup, directive string) string {
	if doc == nil {
		return ""
	}
	for _, c := range doc.List {
		if text, ok := strings.CutPrefix(c.Text, directive); ok {
			return strings.TrimSpace(text)
		}
	}
	return ""
}

// chapterFile is docs/NN-name.md.
func chapterFile(root, chapter string) string {
	files, _ := filepath.Glob(filepath.Join(root, "docs", chapter+"-*.md"))
	if len(files) == 0 {
		return "docs/"
	}
	return "docs/" + filepath.Base(files[0])
}

func relTo(root, p string) string {
	if rel, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix) + "\n"
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}
