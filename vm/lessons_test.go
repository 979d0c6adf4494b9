package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestLessonsInVM boots the VM once per lesson, and once for skiff, and
// runs the in-VM tests (the *_test.go files built with the vmtest tag) as
// root in it. Each test that ran in the VM is reported here as a subtest,
// with the guest's output when it fails.
func TestLessonsInVM(t *testing.T) {
	root := repoRoot(t)
	requireVM(t)
	for _, s := range suites(t, root) {
		name := s.name
		t.Run(name, func(t *testing.T) {
			testBin := buildVMTests(t, root, s.testPkg)
			g := lessonGuest(t, root, s.bins)
			g.mode, g.timeout = "test", "8m"
			g.tests = []testRun{{name: name, bin: testBin}}
			out, status := bootGuest(t, g, defaultTimeout)
			reportGuestTests(t, out, status)
			if hasCgroups(name) {
				// The VM again, with the v1 layout: one hierarchy per controller.
				t.Run("cgroup-v1", func(t *testing.T) {
					g.cgroup, g.tests[0].args = "v1", "-test.run=^TestCgroup"
					out, status := bootGuest(t, g, defaultTimeout)
					reportGuestTests(t, out, status)
				})
			}
		})
	}
}

// hasCgroups: lesson 05, every lesson after it and skiff limit resources,
// and name their cgroup tests TestCgroup*.
func hasCgroups(name string) bool { return name >= "lesson-05" || name == "final" }

// suite is what runs in the VM: a lesson, or skiff.
type suite struct {
	name    string // the folder: lesson-01-chroot, final
	testPkg string // the package of its vmtest tests
	bins    string // its binaries in bin/, a glob
	demo    string // its demo.sh
}

func suites(t *testing.T, root string) []suite {
	var all []suite
	for _, dir := range lessonDirs(t, root) {
		name := filepath.Base(dir)
		all = append(all, suite{name, "./" + name, name + "*", filepath.Join(dir, "demo.sh")})
	}
	if _, err := os.Stat(filepath.Join(root, "final", "test")); err == nil {
		all = append(all, suite{"final", "./final/test", "skiff*", filepath.Join(root, "final", "demo.sh")})
	}
	return all
}

// TestCgroupLessonsOnHost runs the cgroup tests of lessons 05 and later
// directly on this machine as root, to test whatever cgroup layout it has
// (a v1 "hybrid" one on the machines this project is developed on).
func TestCgroupLessonsOnHost(t *testing.T) {
	root := repoRoot(t)
	if os.Geteuid() != 0 {
		t.Skip("skipping the cgroup tests on the host: they need root")
	}
	for _, s := range suites(t, root) {
		if !hasCgroups(s.name) {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			testBin := buildVMTests(t, root, s.testPkg)
			cmd := exec.Command(testBin, "-test.v", "-test.run=^TestCgroup", "-test.timeout=5m")
			cmd.Env = append(os.Environ(), "ROOTFS="+filepath.Join(root, ".cache", "rootfs"),
				"PATH="+filepath.Join(root, "bin")+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			status := 0
			if exitErr, ok := err.(*exec.ExitError); ok {
				status = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			reportGuestTests(t, string(out), status)
		})
	}
}

// TestDemosInVM runs every lesson's demo.sh in the VM, as `make lesson-NN`
// does, and those of skiff's later chapters (final/NAME/demo.sh, with
// skiff's binaries, as `make docs` runs them), so a demo that stops
// working fails the build.
func TestDemosInVM(t *testing.T) {
	root := repoRoot(t)
	requireVM(t)
	all := suites(t, root)
	more, _ := filepath.Glob(filepath.Join(root, "final", "*", "demo.sh"))
	for _, demo := range more {
		name := "final-" + filepath.Base(filepath.Dir(demo)) // final/oci runs as TestDemosInVM/final-oci
		all = append(all, suite{name: name, bins: "skiff*", demo: demo})
	}
	for _, s := range all {
		if _, err := os.Stat(s.demo); err != nil && s.name == "final" {
			continue // skiff's demo comes with its chapter
		}
		t.Run(s.name, func(t *testing.T) {
			g := lessonGuest(t, root, s.bins)
			g.mode, g.demo = "demo", s.demo
			out, status := bootGuest(t, g, demoTimeout)
			if status != 0 {
				t.Fatalf("demo exited with status %d:\n%s", status, out)
			}
		})
	}
}

func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// requireVM finds QEMU and the kernel. Without them the test cannot run:
// in CI that is a failure, elsewhere a skip that says why.
func requireVM(t *testing.T) {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot run the VM tests: %s", why)
		}
		t.Skipf("skipping the VM tests: %s (run 'make test', which installs it)", why)
	}
	if _, err := exec.LookPath(qemuBinary); err != nil {
		missing(qemuBinary + " is not installed")
	}
	if _, _, err := (cache{filepath.Join(repoRoot(t), ".cache")}).kernel(); err != nil {
		missing(err.Error())
	}
}

func lessonDirs(t *testing.T, root string) []string {
	dirs, _ := filepath.Glob(filepath.Join(root, "lesson-*"))
	if len(dirs) == 0 {
		t.Fatal("no lesson-* folders found")
	}
	return dirs
}

// buildVMTests compiles the lesson's tests, including the vmtest-tagged
// ones, into a static test binary for the guest.
func buildVMTests(t *testing.T, root, pkg string) string {
	out := filepath.Join(t.TempDir(), filepath.Base(pkg)+".test")
	cmd := exec.Command("go", "test", "-c", "-tags", "vmtest", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test -c %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// lessonGuest puts the lesson's binaries (built by `make build`) and the
// rootfs (`make rootfs`) into a guest.
func lessonGuest(t *testing.T, root, binGlob string) guest {
	bins, _ := filepath.Glob(filepath.Join(root, "bin", binGlob))
	if len(bins) == 0 {
		t.Fatalf("bin/%s not found: run 'make build' first", binGlob)
	}
	return guest{rootfs: filepath.Join(root, ".cache", "rootfs"), bins: bins, cgroup: "v2"}
}

func bootGuest(t *testing.T, g guest, timeout time.Duration) (string, int) {
	vmlinux, err := g.prepare(cache{filepath.Join(repoRoot(t), ".cache")}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	status, err := g.run(vmlinux, timeout, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return out.String(), status
}

// reportGuestTests turns the guest's `go test -v` output into subtests.
func reportGuestTests(t *testing.T, out string, status int) {
	results := parseTestOutput(out)
	if len(results) == 0 {
		t.Fatalf("no test ran in the VM (status %d):\n%s", status, out)
	}
	failed := false
	for _, r := range results {
		t.Run(r.name, func(t *testing.T) {
			switch r.result {
			case "PASS":
			case "SKIP":
				failed = true
				t.Errorf("skipped inside the VM, where every test must run:\n%s", r.output)
			default:
				failed = true
				t.Errorf("failed in the VM:\n%s", r.output)
			}
		})
	}
	if status != 0 && !failed {
		t.Fatalf("the test binary exited with status %d although no test failed:\n%s", status, out)
	}
}
