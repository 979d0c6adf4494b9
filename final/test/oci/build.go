// Package oci runs the OCI runtime-tools validation suite against OCI
// runtimes that have runc's command line (runc, crun, skiff's own), one
// validation program at a time, each in a folder of its own, and reports
// what each runtime passes. The suite is built once from the Go module
// cache and kept under .cache/. The test that drives it is
// validation_test.go (build tag ocitest, `make oci-validation`).
package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"skiff/test/hostenv"
	"strings"
)

// Module is the runtime-tools release whose validation suite runs: the
// newest the Go module proxy serves.
const Module = "github.com/opencontainers/runtime-tools@v0.9.0"

// pins are the versions the suite builds with. v0.9.0 predates Go modules
// (it has Godeps, no go.mod), and `go mod tidy` alone would take the
// newest release of everything: newer runtime-specs turned limits into
// pointers (v1.0.1 lacks the VM section), newer selinux releases dropped
// label.FileLabel. Every direct dependency is pinned, so that the build
// stays the same when the proxy serves newer releases.
var pins = []string{
	"github.com/opencontainers/runtime-spec@v1.0.2",
	"github.com/opencontainers/selinux@v1.2.2",
	"github.com/blang/semver@v3.5.1+incompatible",
	"github.com/hashicorp/go-multierror@v1.1.1",
	"github.com/mndrix/tap-go@v0.0.0-20171203230836-629fa407e90b",
	"github.com/mrunalp/fileutils@v0.5.1",
	"github.com/satori/go.uuid@v1.2.0",
	"github.com/sirupsen/logrus@v1.10.2",
	"github.com/stretchr/testify@v1.12.1",
	"github.com/syndtr/gocapability@v0.0.0-20200815063812-42c35b437635",
	"github.com/urfave/cli@v1.22.17",
	"github.com/xeipuuv/gojsonschema@v1.2.0",
	"golang.org/x/sys@v0.50.0",
}

// rootfsTarball is the root of every bundle, which each program unpacks
// from its working folder; the module has it for amd64 and 386.
var rootfsTarball = "rootfs-" + runtime.GOARCH + ".tar.gz"

// Suite is the built validation suite.
type Suite struct {
	// Dir holds what each program needs in its working folder
	// (runtimetest, which runs inside the containers, and rootfsTarball)
	// and bin/PROGRAM.
	Dir string
	// Programs are the validation programs' names (validation/NAME),
	// sorted; a caller may run fewer by shortening the list.
	Programs []string
}

// Build returns the suite built under cache, building it first if this
// recipe (module, pins, Go version) was never built there. A build needs
// the Go module proxy and takes about 25 s on 2 cores from empty module
// and build caches; the suite takes 270 MB.
func Build(ctx context.Context, cache string, logf func(string, ...any)) (*Suite, error) {
	dir := filepath.Join(cache, "runtime-tools-"+version()+"-"+recipe())
	if s, err := load(dir); err == nil {
		return s, nil
	}
	logf("building the OCI validation suite %s into %s", Module, dir)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cache, ".runtime-tools-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := build(ctx, tmp); err != nil {
		return nil, err
	}
	// Renamed in whole: a suite folder is complete or absent, even when
	// two runs build at once (the loser's rename fails and its copy goes).
	if err := os.Rename(filepath.Join(tmp, "out"), dir); err != nil {
		if s, err := load(dir); err == nil {
			return s, nil
		}
		return nil, err
	}
	removeOtherBuilds(cache, dir)
	return load(dir)
}

// version is the module's version, "v0.9.0".
func version() string { return Module[strings.LastIndex(Module, "@")+1:] }

// recipe names a build by what makes it: a different recipe is built
// into a folder of its own.
func recipe() string {
	sum := sha256.Sum256([]byte(Module + "\n" + strings.Join(pins, "\n") + "\n" + runtime.Version()))
	return hex.EncodeToString(sum[:6])
}

// load returns the suite in dir, if dir holds a whole build.
func load(dir string) (*Suite, error) {
	for _, f := range []string{"runtimetest", rootfsTarball} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, "bin"))
	if err != nil {
		return nil, err
	}
	s := &Suite{Dir: dir}
	for _, e := range entries {
		s.Programs = append(s.Programs, e.Name())
	}
	if len(s.Programs) == 0 {
		return nil, fmt.Errorf("%s: no validation program", dir)
	}
	return s, nil // ReadDir sorts by name
}

// Fetch downloads into the Go module cache every module that a build of
// the suite needs, and builds nothing: make prefetch runs it, so that a
// later build needs no network.
func Fetch(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "runtime-tools-fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	_, err = source(ctx, tmp)
	return err
}

// source copies the module's source from the module cache to tmp/src,
// gives it a go.mod, and returns that folder.
func source(ctx context.Context, tmp string) (string, error) {
	out, err := goCmd(ctx, tmp, "mod", "download", "-json", Module)
	if err != nil {
		return "", err
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no folder in %q", Module, out)
	}
	src := filepath.Join(tmp, "src")
	// CopyFS writes files the module cache keeps read-only as writable.
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return "", fmt.Errorf("copy %s: %w", mod.Dir, err)
	}
	for _, args := range [][]string{
		{"mod", "init", strings.TrimSuffix(Module, "@"+version())},
		append([]string{"get"}, pins...),
		{"mod", "tidy"},
	} {
		if _, err := goCmd(ctx, src, args...); err != nil {
			return "", err
		}
	}
	return src, nil
}

// build makes tmp/out from the module cache: the module's source is copied
// to tmp/src, given a go.mod, and built there.
func build(ctx context.Context, tmp string) error {
	src, err := source(ctx, tmp)
	if err != nil {
		return err
	}
	steps := [][]string{
		// runtimetest runs inside the containers: static.
		{"build", "-trimpath", "-o", filepath.Join(tmp, "out", "runtimetest"), "./cmd/runtimetest"},
		{"build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(tmp, "out", "bin") + "/", "./validation/..."},
	}
	for _, args := range steps {
		if _, err := goCmd(ctx, src, args...); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(filepath.Join(src, rootfsTarball))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(tmp, "out", rootfsTarball), data, 0o644)
}

// goCmd runs the go command in dir, outside any workspace, and returns
// its standard output; its error is one line. The caller's GOFLAGS stay
// (make's -modcacherw, which lets make clean delete the module cache).
func goCmd(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	flags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -mod=mod -buildvcs=false")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS="+flags, "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, hostenv.LastLine(stderr.String()))
	}
	return out, nil
}

// removeOtherBuilds removes the suites that other recipes built, which
// nothing uses any more.
func removeOtherBuilds(cache, keep string) {
	old, _ := filepath.Glob(filepath.Join(cache, "runtime-tools-*"))
	for _, dir := range old {
		if dir != keep {
			os.RemoveAll(dir) // best effort: it goes next time otherwise
		}
	}
}
