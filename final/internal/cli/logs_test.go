package cli

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestSeekLastLines(t *testing.T) {
	for _, c := range []struct {
		text string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 0, ""},
		{"a\nb\nc\n", 5, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"},
		{"a\nb\nc", 2, "b\nc"},
		{"", 3, ""},
		{"\n\n", 1, "\n"},
	} {
		path := filepath.Join(t.TempDir(), "log")
		os.WriteFile(path, []byte(c.text), 0o600)
		f, _ := os.Open(path)
		if err := seekLastLines(f, c.n); err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if string(got) != c.want {
			t.Errorf("last %d lines of %q: %q, want %q", c.n, c.text, got, c.want)
		}
	}
}
