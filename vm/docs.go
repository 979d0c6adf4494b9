package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The chapters in docs/ hold three kinds of generated blocks, so that they
// cannot drift from the code:
//
//	<!-- BEGIN generated: diff OLD NEW -->      diff -u OLD NEW
//	<!-- BEGIN generated: transcript DIR -->    DIR/demo.sh's output in the VM
//	<!-- BEGIN generated: host-transcript DIR WRAPPER [ARG...] -->
//	                                            DIR/demo.sh's output on this host, as root,
//	                                            run by bin/WRAPPER (see hostTranscript)
//	...
//	<!-- END generated -->
//
// `make docs` rewrites them; TestDocsAreCurrent fails when they are stale.
var generatedBlock = regexp.MustCompile(`(?s)(<!-- BEGIN generated: ([\w-]+) ([^>]*?) -->\n)(.*?)(<!-- END generated -->)`)

// transcripts run demos for their transcripts. A nil function leaves its
// blocks as they are.
type transcripts struct {
	vm   func(dir string) (string, error)                   // in the VM
	host func(dir string, wrapper []string) (string, error) // on this host
}

// regenerate returns doc with every generated block rewritten.
func regenerate(root, doc string, run transcripts) (string, error) {
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
			if run.vm == nil {
				return block
			}
			body, err = run.vm(args[0])
			body = "```console\n" + body + "```\n"
		case kind == "host-transcript" && len(args) >= 2:
			if run.host == nil {
				return block
			}
			body, err = run.host(args[0], args[1:])
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
func writeDocs(root, pattern string, run transcripts) error {
	chapters, _ := filepath.Glob(filepath.Join(root, "docs", pattern))
	for _, file := range chapters {
		doc, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		out, err := regenerate(root, string(doc), run)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if out != string(doc) {
			step("updated %s", filepath.Base(file))
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				return err
			}
		}
		if err := syncTranslation(file, out); err != nil {
			return err
		}
	}
	return nil
}

// translationDir holds the Chinese edition: docs/zh-CN/NAME.md is the
// translation of docs/NAME.md.
const translationDir = "zh-CN"

// syncTranslation copies the English chapter's generated blocks into its
// translation, if it has one: diffs and transcripts are the same in both
// languages, so they are made once.
func syncTranslation(file, english string) error {
	translated := filepath.Join(filepath.Dir(file), translationDir, filepath.Base(file))
	if zh, ok := translateReference(english); ok {
		return os.WriteFile(translated, []byte(zh), 0o644)
	}
	doc, err := os.ReadFile(translated)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	out, err := copyBlocks(english, string(doc))
	if err != nil {
		return fmt.Errorf("%s: %w", translated, err)
	}
	if out != string(doc) {
		step("updated %s/%s", translationDir, filepath.Base(file))
		return os.WriteFile(translated, []byte(out), 0o644)
	}
	return nil
}

// referenceTitle is the first line of a command reference page, which
// `skiff reference` and `skiff-runtime reference` write.
var referenceTitle = regexp.MustCompile(`^# (\S+) command reference\n\nGenerated from the command definitions by ` + "`" + `(\S+ reference)` + "`" + ` \(` + "`make docs`" + `\); do not edit\.\n`)

// translateReference is a reference page in Chinese: its title and note;
// the commands, flags and their help stay English, as --help does.
func translateReference(english string) (string, bool) {
	m := referenceTitle.FindStringSubmatchIndex(english)
	if m == nil {
		return "", false
	}
	name, command := english[m[2]:m[3]], english[m[4]:m[5]]
	return fmt.Sprintf("# %s 命令参考\n\n*[English](../%s.md)*\n\n由 `%s` 根据命令定义生成（`make docs`），请勿手改。"+
		"命令、选项和它们的说明与 `--help` 一致，保持英文。\n", name, name, command) + english[m[1]:], true
}

// copyBlocks gives each generated block of doc the body of the block with
// the same BEGIN line in the original.
func copyBlocks(original, doc string) (string, error) {
	bodies := map[string]string{}
	for _, m := range generatedBlock.FindAllStringSubmatch(original, -1) {
		bodies[m[1]] = m[4]
	}
	var missing error
	out := generatedBlock.ReplaceAllStringFunc(doc, func(block string) string {
		m := generatedBlock.FindStringSubmatch(block)
		body, ok := bodies[m[1]]
		if !ok {
			missing = fmt.Errorf("%q is not in the English chapter", strings.TrimSpace(m[1]))
			return block
		}
		return m[1] + body + m[5]
	})
	return out, missing
}

// vmTranscript runs a lesson's demo in the VM and returns its output. A
// folder of final/ (final, final/oci) gets skiff's binaries.
func vmTranscript(c cache, root string) func(string) (string, error) {
	return func(lesson string) (string, error) {
		g := guest{rootfs: c.path("rootfs"), cgroup: "v2", mode: "demo",
			demo: filepath.Join(root, lesson, "demo.sh")}
		binGlob := lesson + "*"
		if lesson == "final" || strings.HasPrefix(lesson, "final/") {
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

// hostTranscript runs a demo on this host, for what the VM does not have
// (containerd, for docs/09-oci.md): bin/WRAPPER ARG... sets the scene
// (with-containerd starts a containerd of its own, and takes it all down
// again when the demo ends) and runs DIR/demo.sh as a transcript, in a
// scratch folder, with bin/ first on the PATH and ROOTFS the busybox
// rootfs. What the wrapper says itself goes to stderr, not into the
// transcript. It needs root; after the timeout the wrapper gets SIGTERM,
// which it passes on to the demo before it cleans up.
func hostTranscript(c cache, root string) func(string, []string) (string, error) {
	return func(dir string, wrapper []string) (string, error) {
		bin := filepath.Join(root, "bin")
		program := filepath.Join(bin, wrapper[0])
		if _, err := os.Stat(program); err != nil {
			return "", fmt.Errorf("host-transcript %s: %w (run make build)", dir, err)
		}
		rootfs, err := filepath.Abs(c.path("rootfs"))
		if err != nil {
			return "", err
		}
		work, err := os.MkdirTemp("", "docs-transcript-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(work)
		args := append(slices.Clone(wrapper[1:]), "sh", "-c", `sh "$0" "$1" 2>&1`,
			filepath.Join(root, "vm", "guest", "transcript.sh"), filepath.Join(root, dir, "demo.sh"))
		ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, program, args...)
		cmd.Cancel = func() error { return cmd.Process.Signal(unix.SIGTERM) }
		cmd.WaitDelay = time.Minute
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "ROOTFS="+rootfs)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		step("running the %s demo on this host for its transcript", dir)
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("the %s demo: %w:\n%s", dir, err, out.String())
		}
		return out.String(), nil
	}
}
