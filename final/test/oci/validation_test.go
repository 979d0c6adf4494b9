//go:build ocitest

package oci

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestValidation runs the OCI runtime-tools validation suite against runc
// and crun (installed from Debian's packages when missing) and the
// runtimes in OCI_RUNTIMES, and logs the table. It fails when the harness
// cannot do its work, not because a runtime fails programs, unless
// OCI_AT_LEAST names runtimes. Needs root; `make oci-validation` runs it.
//
//	OCI_RUNTIMES="skiff=/abs/bin/skiff-runtime"  more runtimes, after runc and crun
//	OCI_AT_LEAST="skiff"  these must pass at least as many programs as runc and as crun
//	OCI_ONLY=1            only the runtimes in OCI_RUNTIMES (while developing one)
//	OCI_PROGRAMS=REGEXP   only the programs whose names match
//	OCI_TIMEOUT=90s       each program's time limit (default 60s)
//	OCI_LOGS=DIR          keep each run's TAP, stderr and runtime calls in DIR
func TestValidation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the OCI validation suite needs root: run make oci-validation as root")
	}
	// Interrupted or near the test's deadline, the harness stops the
	// program that runs and cleans up, rather than die and leave it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-time.Minute))
		defer cancel()
	}

	if err := InstallRuntimes(t.Logf); err != nil {
		t.Fatal(err)
	}
	runtimes, err := DefaultRuntimes()
	if err != nil {
		t.Fatal(err)
	}
	extra, err := ParseRuntimes(os.Getenv("OCI_RUNTIMES"))
	if err != nil {
		t.Fatalf("OCI_RUNTIMES: %v", err)
	}
	runtimes = append(runtimes, extra...)
	if os.Getenv("OCI_ONLY") != "" {
		runtimes = extra
	}
	opt := Options{Logf: t.Logf}
	if s := os.Getenv("OCI_TIMEOUT"); s != "" {
		if opt.Timeout, err = time.ParseDuration(s); err != nil || opt.Timeout <= 0 {
			t.Fatalf("OCI_TIMEOUT=%s: want a duration like 90s", s)
		}
	}

	cache, err := filepath.Abs("../../../.cache") // the repository's, beside the VM's kernel and rootfs
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	suite, err := Build(ctx, cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("suite ready in %.1fs: %d programs in %s", time.Since(start).Seconds(), len(suite.Programs), suite.Dir)
	if s := os.Getenv("OCI_PROGRAMS"); s != "" {
		re, err := regexp.Compile(s)
		if err != nil {
			t.Fatalf("OCI_PROGRAMS: %v", err)
		}
		suite.Programs = slices.DeleteFunc(suite.Programs, func(p string) bool { return !re.MatchString(p) })
	}

	start = time.Now()
	report, err := suite.Run(ctx, runtimes, opt)
	if report != nil {
		t.Logf("validation suite, %s, in %.0fs:\n%s", Module, time.Since(start).Seconds(), report.Table())
		if dir := os.Getenv("OCI_LOGS"); dir != "" {
			if err := report.WriteLogs(dir); err != nil {
				t.Error(err)
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Fields(strings.ReplaceAll(os.Getenv("OCI_AT_LEAST"), ",", " ")) {
		if err := report.AtLeast(name, "runc", "crun"); err != nil {
			t.Error(err)
		}
	}
}
