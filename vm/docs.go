package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// The chapters in docs/ hold two kinds of generated blocks, so that they
// cannot drift from the code:
//
//	<!-- BEGIN generated: diff OLD NEW -->      diff -u OLD NEW
//	<!-- BEGIN generated: transcript LESSON --> the demo's output in the VM
//	...
//	<!-- END generated -->
//
// `make docs` rewrites them; TestDocsAreCurrent fails when they are stale.
var generatedBlock = regexp.MustCompile(`(?s)(<!-- BEGIN generated: (\w+) ([^>]*?) -->\n)(.*?)(<!-- END generated -->)`)

// transcriptFunc returns the demo transcript of a lesson folder.
type transcriptFunc func(lesson string) (string, error)

// regenerate returns doc with every generated block rewritten. With a nil
// transcript function, transcript blocks are left as they are.
func regenerate(root, doc string, transcript transcriptFunc) (string, error) {
	var firstErr error
	out := generatedBlock.ReplaceAllStringFunc(doc, func(block string) string {
		m := generatedBlock.FindStringSubmatch(block)
		begin, kind, args, end := m[1], m[2], strings.Fields(m[3]), m[5]
		var body string
		var err error
		switch {
		case kind == "diff" && len(args) == 2:
			body, err = unifiedDiff(root, args[0], args[1])
			body = "```diff\n" + body + "```\n"
		case kind == "transcript" && len(args) == 1:
			if transcript == nil {
				return block
			}
			body, err = transcript(args[0])
			body = "```console\n" + body + "```\n"
		default:
			err = fmt.Errorf("unknown generated block %q", strings.TrimSpace(begin))
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return block
		}
		return begin + body + end
	})
	return out, firstErr
}

// unifiedDiff runs diff -u between two files of the repository.
func unifiedDiff(root, a, b string) (string, error) {
	cmd := exec.Command("diff", "-u", "--label", a, "--label", b, a, b)
	cmd.Dir = root
	out, err := cmd.Output()
	if exitErr, ok := err.(*exec.ExitError); ok && exitErr.ExitCode() == 1 {
		err = nil // 1: the files differ
	}
	if err != nil {
		return "", fmt.Errorf("diff -u %s %s: %w", a, b, err)
	}
	return string(out), nil
}

// transcriptCommands lists the "$ command" lines of a transcript or the
// commands of a demo script: what the two must agree on.
func transcriptCommands(text string, isDemo bool) []string {
	var cmds []string
	for _, line := range strings.Split(text, "\n") {
		switch {
		case isDemo && line != "" && !strings.HasPrefix(line, "#"):
			cmds = append(cmds, line)
		case !isDemo && strings.HasPrefix(line, "$ "):
			cmds = append(cmds, strings.TrimPrefix(line, "$ "))
		}
	}
	return cmds
}

// writeDocs regenerates the chapters in root/docs whose file names match
// pattern ("*.md" for all).
func writeDocs(root, pattern string, transcript transcriptFunc) error {
	chapters, _ := filepath.Glob(filepath.Join(root, "docs", pattern))
	for _, file := range chapters {
		doc, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		out, err := regenerate(root, string(doc), transcript)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if out != string(doc) {
			step("updated %s", filepath.Base(file))
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// vmTranscript runs a lesson's demo in the VM and returns its output.
func vmTranscript(c cache, root string) transcriptFunc {
	return func(lesson string) (string, error) {
		g := guest{rootfs: c.path("rootfs"), cgroup: "v2", mode: "demo",
			demo: filepath.Join(root, lesson, "demo.sh")}
		binGlob := lesson + "*"
		if lesson == "final" {
			binGlob = "skiff*"
		}
		g.bins, _ = filepath.Glob(filepath.Join(root, "bin", binGlob))
		vmlinux, err := g.prepare(c, "", "")
		if err != nil {
			return "", err
		}
		step("running the %s demo for its transcript", lesson)
		var out bytes.Buffer
		status, err := g.run(vmlinux, demoTimeout, &out)
		if err == nil && status != 0 {
			err = fmt.Errorf("the %s demo exited with status %d:\n%s", lesson, status, out.String())
		}
		return out.String(), err
	}
}
