package main

import (
	"fmt"
	"strings"
)

type guestTest struct {
	name, result, output string
}

// parseTestOutput reads `go test -v` output: the lines from "=== RUN Name"
// to "--- PASS/FAIL/SKIP: Name" belong to the top-level test Name.
func parseTestOutput(out string) []guestTest {
	var tests []guestTest
	var current *guestTest
	var buf strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, "=== RUN   "); ok && !strings.Contains(name, "/") {
			current = &guestTest{name: name}
			buf.Reset()
		}
		buf.WriteString(line + "\n")
		for _, result := range []string{"PASS", "FAIL", "SKIP"} {
			prefix := fmt.Sprintf("--- %s: ", result)
			if rest, ok := strings.CutPrefix(line, prefix); ok && current != nil && strings.HasPrefix(rest, current.name+" ") {
				current.result, current.output = result, buf.String()
				tests = append(tests, *current)
				current = nil
			}
		}
	}
	if current != nil { // the binary died inside a test (panic, timeout)
		current.result, current.output = "FAIL", buf.String()
		tests = append(tests, *current)
	}
	return tests
}

// binaryMarker starts the output of each test binary in the guest
// (guest/init.sh).
const binaryMarker = "skiff-vm-test-binary: "

// splitByBinary cuts the guest's output into each test binary's, by name.
func splitByBinary(out string) map[string]string {
	parts := map[string]string{}
	name := ""
	for _, line := range strings.SplitAfter(out, "\n") {
		if n, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), binaryMarker); ok {
			name = n
			continue
		}
		parts[name] += line
	}
	return parts
}
