package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// readCpio parses a newc archive back into name -> (mode, data).
func readCpio(t *testing.T, data []byte) map[string]string {
	t.Helper()
	entries := map[string]string{}
	for len(data) > 0 {
		if string(data[:6]) != "070701" {
			t.Fatalf("bad magic %q", data[:6])
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(data[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		mode, size, namesize := field(1), field(6), field(11)
		name := string(data[110 : 110+namesize-1])
		off := (110 + namesize + 3) &^ 3
		if name == "TRAILER!!!" {
			return entries
		}
		entries[name] = strconv.FormatInt(int64(mode), 8) + ":" + string(data[off:off+size])
		data = data[(off+size+3)&^3:]
	}
	t.Fatal("no trailer")
	return nil
}

func TestCpioWriter(t *testing.T) {
	var buf bytes.Buffer
	c := newCpioWriter(&buf)
	c.File("usr/local/bin/tool", 0o755, []byte("abc"))
	c.Symlink("bin/sh", "/bin/busybox")
	c.Dir("tmp")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := readCpio(t, buf.Bytes())
	want := map[string]string{
		"usr":                "40755:",
		"usr/local":          "40755:",
		"usr/local/bin":      "40755:",
		"usr/local/bin/tool": "100755:abc",
		"bin":                "40755:",
		"bin/sh":             "120777:/bin/busybox",
		"tmp":                "40755:",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %q, want %q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d entries, want %d: %v", len(got), len(want), got)
	}
}

func TestParseTestOutput(t *testing.T) {
	out := strings.Join([]string{
		"=== RUN   TestA",
		"--- PASS: TestA (0.01s)",
		"=== RUN   TestB",
		"=== RUN   TestB/sub",
		"    x_test.go:1: boom",
		"    --- FAIL: TestB/sub (0.00s)",
		"--- FAIL: TestB (0.02s)",
		"=== RUN   TestC",
		"panic: oops",
	}, "\n")
	got := parseTestOutput(out)
	want := []struct{ name, result string }{{"TestA", "PASS"}, {"TestB", "FAIL"}, {"TestC", "FAIL"}}
	if len(got) != len(want) {
		t.Fatalf("got %d tests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].name != w.name || got[i].result != w.result {
			t.Errorf("test %d = %s %s, want %s %s", i, got[i].name, got[i].result, w.name, w.result)
		}
	}
	if !strings.Contains(got[1].output, "boom") || !strings.Contains(got[2].output, "panic") {
		t.Errorf("outputs lost: %+v", got)
	}
}

func TestCopyConsoleStripsMarker(t *testing.T) {
	var out bytes.Buffer
	status := copyConsole(strings.NewReader("hello\r\nskiff-vm-exit-status: 7\r\n"), &out)
	if status != 7 || out.String() != "hello\n" {
		t.Errorf("status %d, out %q", status, out.String())
	}
}

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{"nf-nat.ko": "nf_nat", "veth": "veth", "crc32c_generic.ko": "crc32c_generic"} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}
