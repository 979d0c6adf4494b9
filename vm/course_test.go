package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeLesson(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const lessonOne = `package main

import "golang.org/x/sys/unix"

// flags are the namespaces.
const flags = unix.CLONE_NEWUTS
`

const lessonTwo = `package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// flags are the namespaces, now with PIDs.
//
//exercise:02 add the PID flag; see "PIDs"
const flags = unix.CLONE_NEWUTS | unix.CLONE_NEWPID

type pair struct{ a, b int }

// setName names the container.
//
//exercise:01 an older lesson's marker, left alone
//exercise:02 set the hostname; see "Names"
func setName(name string) (pair, []byte, error) {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return pair{}, nil, fmt.Errorf("sethostname %s: %w", name, err)
	}
	return pair{1, 2}, nil, nil
}
`

// TestWriteStarter: marked functions keep their doc and signature and get
// a TODO and zero values; a marked const is the previous lesson's; imports
// and directives the starter no longer needs go; tests stay out.
func TestWriteStarter(t *testing.T) {
	root := t.TempDir()
	writeLesson(t, filepath.Join(root, "lesson-01-one"), map[string]string{"main.go": lessonOne})
	writeLesson(t, filepath.Join(root, "lesson-02-two"), map[string]string{"main.go": lessonTwo,
		"main_test.go": "package main\n", "go.mod": "module lesson-02-two\n", "demo.sh": "echo hi\n"})
	l, err := findLesson(root, "02")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "work", l.name)
	markers, err := writeStarter(l, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(markers) != 2 || markers[0].name != "const flags" || markers[1].name != "setName" || markers[1].section != "Names" {
		t.Errorf("markers = %+v", markers)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "main.go"))
	want := `package main

import (
	"golang.org/x/sys/unix"
)

// flags are the namespaces.
//
// TODO(lesson 02): add the PID flag; see "PIDs" in docs/02-two.md.
const flags = unix.CLONE_NEWUTS

type pair struct{ a, b int }

// setName names the container.
func setName(name string) (pair, []byte, error) {
	// TODO(lesson 02): set the hostname; see "Names" in docs/02-two.md.
	return pair{}, nil, nil
}
`
	if string(got) != want {
		t.Errorf("starter main.go:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "main_test.go")); err == nil {
		t.Error("the starter has the lesson's tests: make check-NN takes them from the lesson")
	}
	if info, err := os.Stat(filepath.Join(dir, "demo.sh")); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("demo.sh: %v %v", info, err)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	if !strings.Contains(string(readme), "make check-02") || !strings.Contains(string(readme), "`setName`: set the hostname") {
		t.Errorf("README.md:\n%s", readme)
	}
	if _, err := writeStarter(l, dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a second make exercise-02: %v, want a refusal to overwrite the learner's work", err)
	}
}

func TestWords(t *testing.T) {
	for name, want := range map[string]string{
		"TestCommandIsPID1":               "command is PID1",
		"TestPID1IgnoresUnhandledSignals": "PID1 ignores unhandled signals",
		"TestCgroupCPULimitThrottles":     "cgroup CPU limit throttles",
		"TestHostSeesTheContainersPID":    "host sees the containers PID",
		"TestAllocateIP":                  "allocate IP",
	} {
		if got := words(name); got != want {
			t.Errorf("words(%s) = %q, want %q", name, got, want)
		}
	}
}

// TestReport: a beginner reads which checks failed, what they said and
// where to reread, and what to do next; earlier lessons' checks are one
// line while they pass.
func TestReport(t *testing.T) {
	root := repoRoot(t)
	l, err := findLesson(root, "03")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{root: root, chapter: "03", module: l.name, dir: filepath.Join(root, "work", l.name), lesson: &l}
	results := []guestTest{
		{"TestHostname", "PASS", "=== RUN   TestHostname\n--- PASS: TestHostname (0.1s)\n"},
		{"TestCommandIsPID1", "FAIL", "=== RUN   TestCommandIsPID1\n    vm_test.go:270: PID inside = \"349\\n\", want 1\n--- FAIL: TestCommandIsPID1 (0.2s)\n"},
		{"TestHostSeesTheContainersPID", "PASS", ""},
	}
	var out bytes.Buffer
	if (report{target: tg, results: results, log: filepath.Join(root, ".cache", "check-03.log")}).write(&out) {
		t.Error("report passed with a failing check")
	}
	for _, want := range []string{
		"FAIL  command is PID1\n",
		`PID inside = "349\n", want 1`,
		`reread: docs/03-pid.md, "A PID namespace is a numbering"`,
		"ok    host sees the containers PID",
		"Still working from lessons 01-02: all 1 checks pass",
		"1 of 3 checks fail",
		"grep -n 'TODO(lesson 03)' work/lesson-03-pid/*.go",
		".cache/check-03.log",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	results[1].result = "PASS"
	out.Reset()
	if !(report{target: tg, results: results}).write(&out) || !strings.Contains(out.String(), "All 3 checks pass") {
		t.Errorf("all passing:\n%s", out.String())
	}
}

// TestDirectivesNameRealSections: every //exercise:NN marker and every
// //check:reread of the lessons names a heading of the chapter, and every
// test of every lesson has a //check:reread.
func TestDirectivesNameRealSections(t *testing.T) {
	root := repoRoot(t)
	headings := func(chapter string) []string {
		data, err := os.ReadFile(filepath.Join(root, chapter))
		if err != nil {
			t.Fatal(err)
		}
		var hs []string
		for _, m := range regexp.MustCompile(`(?m)^#+ (.*)$`).FindAllStringSubmatch(string(data), -1) {
			hs = append(hs, m[1])
		}
		return hs
	}
	hints := rereadHints(root)
	for _, dir := range lessonDirs(t, root) {
		l, err := findLesson(root, filepath.Base(dir)[7:9])
		if err != nil {
			t.Fatal(err)
		}
		sources, err := starterSources(l)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for name, src := range sources {
			if !strings.HasSuffix(name, ".go") {
				continue
			}
			_, markers, err := stubFile(l, name, src)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range markers {
				n++
				if !slices.Contains(headings(l.chapter()), m.section) {
					t.Errorf("%s/%s: //exercise:%s on %s names %q, not a heading of %s", l.name, name, l.number, m.name, m.section, l.chapter())
				}
			}
		}
		if n == 0 {
			t.Errorf("%s marks nothing with //exercise:%s: make exercise-%s would have nothing to leave out", l.name, l.number, l.number)
		}
		for test := range testDocs(dir) {
			hint := hints[test]
			chapter, section, ok := strings.Cut(hint, ", ")
			if !ok {
				t.Errorf("%s: %s has no //check:reread SECTION", l.name, test)
				continue
			}
			if s := strings.Trim(section, `"`); !slices.Contains(headings(chapter), s) {
				t.Errorf("%s: %s rereads %q, not a heading of %s", l.name, test, s, chapter)
			}
		}
	}
}

// TestStartersFailInVM is what make exercise-NN promises: for every lesson
// the starter builds, passes go vet, and fails lesson NN's own new checks
// in the VM (the lessons themselves pass them: TestLessonsInVM). One boot
// runs all the starters, each with its own programs first on its PATH.
func TestStartersFailInVM(t *testing.T) {
	root := repoRoot(t)
	requireVM(t)
	var runs []testRun
	newTests := map[string][]string{}
	for _, dir := range lessonDirs(t, root) {
		l, _ := findLesson(root, filepath.Base(dir)[7:9])
		starter := filepath.Join(t.TempDir(), l.name)
		if _, err := writeStarter(l, starter); err != nil {
			t.Fatalf("make exercise-%s: %v", l.number, err)
		}
		if _, err := goCmd(starter, "vet", "./..."); err != nil {
			t.Fatalf("go vet in the starter of %s:\n%v", l.name, err)
		}
		tg := &target{root: root, chapter: l.number, module: l.name, dir: starter, lesson: &l}
		bins, testBin, err := tg.build(t.TempDir())
		if err != nil {
			t.Fatalf("the starter of %s does not build with its tests:\n%v", l.name, err)
		}
		previous := previousTests(tg)
		for name := range testDocs(dir) {
			if !previous[name] {
				newTests[l.name] = append(newTests[l.name], name)
			}
		}
		runs = append(runs, testRun{name: l.name, bin: testBin, bins: bins,
			args: "-test.run=^(" + strings.Join(newTests[l.name], "|") + ")$"})
	}
	out := bootTests(t, runs)
	for _, r := range runs {
		results := parseTestOutput(out[r.name])
		failed := 0
		for _, res := range results {
			if res.result != "PASS" {
				failed++
			}
		}
		t.Logf("%s's starter: %d of %d new checks fail", r.name, failed, len(results))
		if len(results) != len(newTests[r.name]) {
			t.Errorf("%s's starter: %d results for %d new tests:\n%s", r.name, len(results), len(newTests[r.name]), out[r.name])
		}
		if failed == 0 {
			t.Errorf("%s's starter passes every check the lesson adds: the skeleton leaves nothing to do", r.name)
		}
	}
}

// bootTests boots the VM as few times as it can for several test binaries
// and returns each one's output, by name. A boot takes binaries up to
// bootBytes: the VM has 1 GiB, and holds the initramfs and the copy of
// it that its init makes.
func bootTests(t *testing.T, runs []testRun) map[string]string {
	out := map[string]string{}
	for _, batch := range batches(runs, bootBytes) {
		g := guest{rootfs: filepath.Join(repoRoot(t), ".cache", "rootfs"), cgroup: "v2", mode: "test", timeout: "9m", tests: batch}
		started := time.Now()
		console, _ := bootGuest(t, g, time.Duration(len(batch))*defaultTimeout)
		t.Logf("%d test binaries in one boot: %s", len(batch), time.Since(started).Round(time.Second))
		for name, part := range splitByBinary(console) {
			out[name] = part
		}
	}
	return out
}

const bootBytes = 200 << 20

// batches cuts runs into groups whose files add up to at most limit bytes
// each (a run bigger than that goes alone).
func batches(runs []testRun, limit int64) [][]testRun {
	var all [][]testRun
	var batch []testRun
	var size int64
	for _, r := range runs {
		n := fileSize(r.bin)
		for _, b := range r.bins {
			n += fileSize(b)
		}
		if len(batch) > 0 && size+n > limit {
			all, batch, size = append(all, batch), nil, 0
		}
		batch, size = append(batch, r), size+n
	}
	if len(batch) > 0 {
		all = append(all, batch)
	}
	return all
}

func fileSize(name string) int64 {
	info, err := os.Stat(name)
	if err != nil {
		return 0
	}
	return info.Size()
}

// TestExerciseSolutionsInVM: every chapter exercise with a test
// (exercises/NN/exK_test.go) has a solution (solutions/NN/exK.patch) that
// passes it, and the module without the solution fails it, so the test
// checks the exercise. One boot runs them all.
func TestExerciseSolutionsInVM(t *testing.T) {
	root := repoRoot(t)
	requireVM(t)
	tests, _ := filepath.Glob(filepath.Join(root, "exercises", "*", "ex*_test.go"))
	if len(tests) == 0 {
		t.Skip("no exercise has a test yet")
	}
	var runs []testRun
	bare := map[string]bool{} // chapter -> its module, unpatched, is being run
	for _, test := range tests {
		chapter := filepath.Base(filepath.Dir(test))
		k := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(test), "ex"), "_test.go")
		patch := filepath.Join(root, "solutions", chapter, "ex"+k+".patch")
		module := t.TempDir()
		tg, err := newTarget(root, chapter, "", k)
		if err != nil {
			t.Fatal(err)
		}
		if err := copyTree(filepath.Join(root, tg.module), module, func(string) bool { return true }); err != nil {
			t.Fatal(err)
		}
		if msg, err := exec.Command("git", "-C", module, "apply", patch).CombinedOutput(); err != nil {
			t.Fatalf("git apply %s: %v\n%s", patch, err, msg)
		}
		tg.dir = module
		bins, testBin, err := tg.build(t.TempDir())
		if err != nil {
			t.Fatalf("chapter %s exercise %s: the solution does not build:\n%v", chapter, k, err)
		}
		runs = append(runs, testRun{name: "solution " + chapter + "/" + k, bin: testBin, bins: bins, args: tg.runFilter()})
		if !bare[chapter] {
			bare[chapter] = true
			runs = append(runs, bareRun(t, root, chapter))
		}
	}
	out := bootTests(t, runs)
	for _, r := range runs {
		results := parseTestOutput(out[r.name])
		if len(results) == 0 {
			t.Errorf("%s: no test ran:\n%s", r.name, out[r.name])
		}
		for _, res := range results {
			solution := strings.HasPrefix(r.name, "solution ")
			switch {
			case solution && res.result != "PASS":
				t.Errorf("%s: %s %s:\n%s", r.name, res.name, res.result, res.output)
			case !solution && res.result == "PASS":
				t.Errorf("%s: %s passes without the solution: it does not check the exercise", r.name, res.name)
			}
		}
	}
}

// bareRun is chapter NN's module as it is, with all the chapter's exercise
// tests: each must fail.
func bareRun(t *testing.T, root, chapter string) testRun {
	tests, _ := filepath.Glob(filepath.Join(root, "exercises", chapter, "ex*_test.go"))
	tg, err := newTarget(root, chapter, "", strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tests[0]), "ex"), "_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	tg.dir = filepath.Join(root, tg.module)
	build := t.TempDir()
	bins, testBin, err := tg.buildWith(build, tests)
	if err != nil {
		t.Fatalf("chapter %s's module with its exercise tests:\n%v", chapter, err)
	}
	return testRun{name: "bare " + chapter, bin: testBin, bins: bins, args: fmt.Sprintf("-test.run=^TestEx%s_", chapter)}
}

// TestEveryExerciseHasAHintAndASolution: in every chapter, each exercise
// is followed by a Hint and a Solution block, and the exercises that say
// make check-NN EX=K have that test and its solution, and the other way
// round.
func TestEveryExerciseHasAHintAndASolution(t *testing.T) {
	root := repoRoot(t)
	chapters, _ := filepath.Glob(filepath.Join(root, "docs", "[0-9][0-9]-*.md"))
	item := regexp.MustCompile(`(?m)^(\d+)\. \*\*`)
	for _, file := range chapters {
		doc, _ := os.ReadFile(file)
		chapter := filepath.Base(file)[:2]
		_, exercises, ok := strings.Cut(string(doc), "\n## Exercises")
		if !ok {
			t.Errorf("%s has no Exercises section", filepath.Base(file))
			continue
		}
		if next := strings.Index(exercises, "\n## "); next >= 0 {
			exercises = exercises[:next]
		}
		starts := item.FindAllStringSubmatchIndex(exercises, -1)
		for i, s := range starts {
			end := len(exercises)
			if i+1 < len(starts) {
				end = starts[i+1][0]
			}
			text, k := exercises[s[0]:end], exercises[s[2]:s[3]]
			if !strings.Contains(text, "<summary>Hint</summary>") || !strings.Contains(text, "<summary>Solution</summary>") {
				t.Errorf("%s exercise %s: want a Hint and a Solution <details> block", filepath.Base(file), k)
			}
			test := filepath.Join(root, "exercises", chapter, "ex"+k+"_test.go")
			_, err := os.Stat(test)
			checked := strings.Contains(text, fmt.Sprintf("make check-%s EX=%s", chapter, k))
			if checked != (err == nil) {
				t.Errorf("%s exercise %s: says make check-%s EX=%s: %v, has %s: %v", filepath.Base(file), k, chapter, k, checked, filepath.Base(test), err == nil)
			}
			if err == nil {
				if _, err := os.Stat(filepath.Join(root, "solutions", chapter, "ex"+k+".patch")); err != nil {
					t.Errorf("%s exercise %s has a test but no solutions/%s/ex%s.patch", filepath.Base(file), k, chapter, k)
				}
			}
		}
	}
}

// TestRunFilter: a lesson's check runs all its tests but the exercises'
// (TestExitStatus is the lesson's own), an exercise's check only its own.
func TestRunFilter(t *testing.T) {
	skip := regexp.MustCompile(strings.TrimPrefix((&target{chapter: "03"}).runFilter(), "-test.skip="))
	for name, skipped := range map[string]bool{"TestExitStatus": false, "TestExecCommand": false, "TestEx03_3InitReapsOrphans": true, "TestEx08_3Wait": true} {
		if skip.MatchString(name) != skipped {
			t.Errorf("make check-03 skips %s: %v, want %v", name, !skipped, skipped)
		}
	}
	run := regexp.MustCompile(strings.TrimPrefix((&target{chapter: "03", exercise: "3"}).runFilter(), "-test.run="))
	if !run.MatchString("TestEx03_3InitReapsOrphans") || run.MatchString("TestEx03_4Stop") || run.MatchString("TestExitStatus") {
		t.Errorf("make check-03 EX=3 runs %s", run)
	}
}
