package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDocsAreCurrent fails when a chapter's generated diff no longer
// matches the code, or its transcript no longer matches the demo's
// commands: run `make docs`.
func TestDocsAreCurrent(t *testing.T) {
	root := repoRoot(t)
	chapters, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if len(chapters) == 0 {
		t.Fatal("no chapters in docs/")
	}
	for _, file := range chapters {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := regenerate(root, string(doc), transcripts{})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		if got != string(doc) {
			t.Errorf("%s: a generated diff is stale: run 'make docs'", filepath.Base(file))
		}
		for _, m := range generatedBlock.FindAllStringSubmatch(string(doc), -1) {
			if m[2] != "transcript" && m[2] != "host-transcript" {
				continue
			}
			lesson := strings.Fields(m[3])[0]
			demo, err := os.ReadFile(filepath.Join(root, lesson, "demo.sh"))
			if err != nil {
				t.Fatal(err)
			}
			if want, have := transcriptCommands(string(demo), true), transcriptCommands(m[4], false); !slices.Equal(want, have) {
				t.Errorf("%s: the %s transcript is stale: run 'make docs'\ndemo: %q\ndoc:  %q", filepath.Base(file), lesson, want, have)
			}
		}
	}
}

// TestEveryLessonHasAChapter: docs/NN-*.md for each lesson-NN-*.
func TestEveryLessonHasAChapter(t *testing.T) {
	root := repoRoot(t)
	lessons, _ := filepath.Glob(filepath.Join(root, "lesson-*"))
	for _, lesson := range lessons {
		n := strings.Split(filepath.Base(lesson), "-")[1]
		if m, _ := filepath.Glob(filepath.Join(root, "docs", n+"-*.md")); len(m) != 1 {
			t.Errorf("%s has no chapter docs/%s-*.md", filepath.Base(lesson), n)
		}
	}
}

func TestRegenerateDiff(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "a"), []byte("one\ntwo\n"), 0o644)
	os.WriteFile(filepath.Join(root, "b"), []byte("one\nthree\n"), 0o644)
	doc := "text\n<!-- BEGIN generated: diff a b -->\nold\n<!-- END generated -->\nmore\n"
	got, err := regenerate(root, doc, transcripts{})
	if err != nil {
		t.Fatal(err)
	}
	want := "text\n<!-- BEGIN generated: diff a b -->\n```diff\n--- a\n+++ b\n@@ -1,2 +1,2 @@\n one\n-two\n+three\n```\n<!-- END generated -->\nmore\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestRegenerateTranscripts: each kind of transcript block goes to its own
// runner, with the folder (and the wrapper of a host transcript); with no
// runner the block stays as it is.
func TestRegenerateTranscripts(t *testing.T) {
	doc := "<!-- BEGIN generated: transcript final/oci -->\nold\n<!-- END generated -->\n" +
		"<!-- BEGIN generated: host-transcript final/oci/ctr with-containerd -v -->\nold\n<!-- END generated -->\n"
	got, err := regenerate(t.TempDir(), doc, transcripts{})
	if err != nil || got != doc {
		t.Errorf("with no runners: got %q, %v; want the document unchanged", got, err)
	}
	run := transcripts{
		vm: func(dir string) (string, error) { return "vm " + dir + "\n", nil },
		host: func(dir string, wrapper []string) (string, error) {
			return "host " + dir + " " + strings.Join(wrapper, ",") + "\n", nil
		},
	}
	got, err = regenerate(t.TempDir(), doc, run)
	if err != nil {
		t.Fatal(err)
	}
	want := "<!-- BEGIN generated: transcript final/oci -->\n```console\nvm final/oci\n```\n<!-- END generated -->\n" +
		"<!-- BEGIN generated: host-transcript final/oci/ctr with-containerd -v -->\n```console\nhost final/oci/ctr with-containerd,-v\n```\n<!-- END generated -->\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := regenerate(t.TempDir(), "<!-- BEGIN generated: host-transcript final/oci/ctr -->\n<!-- END generated -->\n", run); err == nil {
		t.Error("a host transcript without a wrapper: no error")
	}
}
