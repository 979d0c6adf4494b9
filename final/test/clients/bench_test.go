//go:build clienttest

package clients

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkCtrRunEach times `ctr run --rm IMAGE ID /bin/true` with each of
// several runtimes under one containerd, for make bench. Each iteration
// runs every runtime once, in an order that rotates from one iteration to
// the next, each run a gap after the previous one: one container at a
// time, as the start-latency targets are read. Three warm-up runs of each
// come first (the first run reads the image's files from disk).
//
//	CLIENT_BENCH_RUNTIMES="NAME=/ABS/PATH ..."  the runtimes (required)
//	CLIENT_BENCH_GAP=SECONDS                    idle time before each run (default 0.1)
//	CLIENT_BENCH_JSON=FILE                      write the times as hyperfine's --export-json does,
//	                                            each runtime's command named "ctr run NAME"
//
// It reports each runtime's median and fastest run as NAME-median-ms and
// NAME-min-ms. containerd starts as for BenchmarkCtrRun (CLIENT_RUNTIME
// is checked, not called). For 20 runs of each:
// go test -tags clienttest -run '^$' -bench CtrRunEach -benchtime 20x ./final/test/clients
func BenchmarkCtrRunEach(b *testing.B) {
	runtimes, err := benchRuntimes(os.Getenv("CLIENT_BENCH_RUNTIMES"))
	if err != nil {
		b.Fatal(err)
	}
	gap := 100 * time.Millisecond
	if s := os.Getenv("CLIENT_BENCH_GAP"); s != "" {
		seconds, err := strconv.ParseFloat(s, 64)
		if err != nil || seconds < 0 {
			b.Fatalf("CLIENT_BENCH_GAP=%q: want seconds", s)
		}
		gap = time.Duration(seconds * float64(time.Second))
	}
	ctx := testContext(b)
	e := startEnv(b, ctx, false)
	run := func(rt benchRuntime, id string) time.Duration {
		select {
		case <-ctx.Done():
			b.Fatalf("interrupted: %v", context.Cause(ctx))
		case <-time.After(gap):
		}
		start := time.Now()
		out, err := e.CtrRunWith(ctx, rt.path, "--rm", Image, id, "/bin/true").CombinedOutput()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("ctr run with %s: %v: %s", rt.name, err, out)
		}
		return took
	}
	for _, rt := range runtimes {
		for i := range 3 {
			run(rt, fmt.Sprintf("warm-up-%s-%d", rt.name, i))
		}
	}
	times := make([][]time.Duration, len(runtimes))
	for i := 0; b.Loop(); i++ {
		for j := range runtimes {
			k := (i + j) % len(runtimes)
			times[k] = append(times[k], run(runtimes[k], fmt.Sprintf("bench-%s-%d", runtimes[k].name, i)))
		}
	}
	for k, rt := range runtimes {
		reportTimes(b, rt.name+"-", times[k])
	}
	if path := os.Getenv("CLIENT_BENCH_JSON"); path != "" {
		if err := writeHyperfineJSON(path, runtimes, times); err != nil {
			b.Error(err)
		}
	}
	left, err := e.Stop()
	if len(left) > 0 || err != nil {
		b.Errorf("left on the host: %v; cleaning up: %v", left, err)
	}
}

// benchRuntime is one runtime of CLIENT_BENCH_RUNTIMES.
type benchRuntime struct{ name, path string }

// benchRuntimes parses "NAME=/ABS/PATH ...".
func benchRuntimes(list string) ([]benchRuntime, error) {
	var rts []benchRuntime
	for _, field := range strings.Fields(list) {
		name, path, ok := strings.Cut(field, "=")
		if !ok || name == "" || !filepath.IsAbs(path) {
			return nil, fmt.Errorf("CLIENT_BENCH_RUNTIMES: %q is not NAME=/ABS/PATH", field)
		}
		if slices.ContainsFunc(rts, func(rt benchRuntime) bool { return rt.name == name }) {
			return nil, fmt.Errorf("CLIENT_BENCH_RUNTIMES: %s given twice", name)
		}
		if err := unix.Access(path, unix.X_OK); err != nil {
			return nil, fmt.Errorf("CLIENT_BENCH_RUNTIMES: %s: %w", path, err)
		}
		rts = append(rts, benchRuntime{name, path})
	}
	if len(rts) == 0 {
		return nil, fmt.Errorf(`CLIENT_BENCH_RUNTIMES is empty: give "NAME=/ABS/PATH ..."`)
	}
	return rts, nil
}

// reportTimes reports the median and the fastest of times, in ms, as the
// metrics PREFIXmedian-ms and PREFIXmin-ms.
func reportTimes(b *testing.B, prefix string, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	sorted := slices.Sorted(slices.Values(times))
	b.ReportMetric(float64(sorted[len(sorted)/2].Microseconds())/1000, prefix+"median-ms")
	b.ReportMetric(float64(sorted[0].Microseconds())/1000, prefix+"min-ms")
}

// writeHyperfineJSON writes the times in the shape of hyperfine's
// --export-json, which make bench reads: {"results": [{"command", "times"
// in seconds}]}.
func writeHyperfineJSON(path string, runtimes []benchRuntime, times [][]time.Duration) error {
	type result struct {
		Command string    `json:"command"`
		Times   []float64 `json:"times"`
	}
	var results []result
	for k, rt := range runtimes {
		r := result{Command: "ctr run " + rt.name, Times: []float64{}}
		for _, t := range times[k] {
			r.Times = append(r.Times, t.Seconds())
		}
		results = append(results, r)
	}
	data, err := json.MarshalIndent(map[string][]result{"results": results}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
