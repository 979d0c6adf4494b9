//go:build vmtest

package test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// volumesDir is DATA_ROOT/volumes, Docker's layout.
func volumesDir() string { return filepath.Join(roots[3], "volumes") }

func volumeNames(t *testing.T) []string {
	t.Helper()
	return strings.Fields(must(t, "volume", "ls", "-q"))
}

// newVolume is the one volume in after that is not in before.
func newVolume(t *testing.T, before, after []string) string {
	t.Helper()
	var added []string
	for _, v := range after {
		if !slices.Contains(before, v) {
			added = append(added, v)
		}
	}
	if len(added) != 1 {
		t.Fatalf("volumes added: %v, want one", added)
	}
	return added[0]
}

// oneLineError checks that r failed with status 125 and one line.
func oneLineError(t *testing.T, r result, what string) {
	t.Helper()
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); r.status != 125 || len(lines) != 1 || !strings.HasPrefix(lines[0], "skiff: ") {
		t.Errorf("%s: status %d, stderr %q: want 125 and one line", what, r.status, r.stderr)
	}
}

// TestVolumeNamed: a named volume is DATA_ROOT/volumes/NAME/_data; what
// a container writes there survives it and a second container sees it;
// ls and inspect print Docker's formats; rm of a volume that a
// container (even a stopped one) mounts is refused; hostile names are
// refused in one line.
func TestVolumeNamed(t *testing.T) {
	before := hostMounts(t)
	if out := must(t, "volume", "create", "vt-named"); out != "vt-named\n" {
		t.Errorf("volume create printed %q", out)
	}
	must(t, "run", "--rm", "-v", "vt-named:/data", "busybox", "sh", "-c", "echo persisted > /data/f")
	data := filepath.Join(volumesDir(), "vt-named", "_data")
	if got, err := os.ReadFile(filepath.Join(data, "f")); err != nil || string(got) != "persisted\n" {
		t.Errorf("the host's %s/f: %q, %v", data, got, err)
	}
	if out := must(t, "run", "--rm", "-v", "vt-named:/other:ro", "busybox", "cat", "/other/f"); out != "persisted\n" {
		t.Errorf("a second container read %q", out)
	}
	// -v NAME:/path makes the volume on first use.
	must(t, "run", "--name", "vt-user", "-v", "vt-first:/d", "busybox", "touch", "/d/made")
	if _, err := os.Stat(filepath.Join(volumesDir(), "vt-first", "_data", "made")); err != nil {
		t.Errorf("-v vt-first:/d: %v", err)
	}
	ls := must(t, "volume", "ls")
	if !regexp.MustCompile(`(?m)^DRIVER\s+VOLUME NAME\n`).MatchString(ls) || !regexp.MustCompile(`(?m)^local\s+vt-named$`).MatchString(ls) {
		t.Errorf("volume ls:\n%s", ls)
	}
	var vols []map[string]any
	if err := json.Unmarshal([]byte(must(t, "volume", "inspect", "vt-named", "vt-first")), &vols); err != nil || len(vols) != 2 {
		t.Fatalf("volume inspect: %v, %d objects", err, len(vols))
	}
	if v := vols[0]; v["Name"] != "vt-named" || v["Driver"] != "local" || v["Scope"] != "local" || v["Mountpoint"] != data || v["CreatedAt"] == "" {
		t.Errorf("volume inspect: %v", v)
	}
	// In use by a stopped container: refused, and the data stays.
	r := skiff(t, "volume", "rm", "vt-first")
	if r.status == 0 || !strings.Contains(r.stderr, "volume is in use") {
		t.Errorf("volume rm of a volume in use: status %d, %q", r.status, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(volumesDir(), "vt-first", "_data", "made")); err != nil {
		t.Errorf("after a refused rm: %v", err)
	}
	must(t, "rm", "-v", "vt-user") // -v: anonymous volumes only
	if _, err := os.Stat(filepath.Join(volumesDir(), "vt-first")); err != nil {
		t.Errorf("rm -v removed the named volume: %v", err)
	}
	must(t, "volume", "rm", "vt-named", "vt-first")
	for _, name := range []string{"vt-named", "vt-first"} {
		if _, err := os.Stat(filepath.Join(volumesDir(), name)); err == nil {
			t.Errorf("volume rm left %s", name)
		}
	}
	must(t, "volume", "rm", "-f", "vt-named")
	pre := volumeNames(t)
	for _, args := range [][]string{{"volume", "create", "../evil"}, {"volume", "create", "a/b"}, {"volume", "rm", "../../images"},
		{"volume", "inspect", ".."}, {"run", "--rm", "-v", "../../etc:/x", "busybox", "true"}, {"run", "--rm", "--mount", "src=../x,dst=/x", "busybox", "true"},
		{"run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=lots", "busybox", "true"}, {"run", "--rm", "--mount", "type=nfs,dst=/t", "busybox", "true"},
		{"volume", "rm", "no-such-volume"}, {"run", "--rm", "-v", "vt-refused:/proc/x", "busybox", "true"},
		{"run", "--rm", "-v", "/proc/y", "busybox", "true"}, {"run", "--rm", "-v", "vt-refused:/d", "-v", "vt-refused:/d", "busybox", "true"}} {
		oneLineError(t, skiff(t, args...), strings.Join(args, " "))
	}
	if _, err := os.Stat(filepath.Join(roots[3], "evil")); err == nil {
		t.Error("volume create ../evil made a folder outside volumes/")
	}
	if names := volumeNames(t); !slices.Equal(names, pre) { // a refused run makes no volume
		t.Errorf("volumes left by refused runs: %v", names)
	}
	assertNothingLeft(t, before)
}

// TestVolumeAnonymous: -v /path makes a volume with a 64-hex name under
// volumes/ID/_data, with the image's files at /path copied in (owner
// and mode of the folder too); rm keeps it, rm -v and --rm remove it.
func TestVolumeAnonymous(t *testing.T) {
	before := volumeNames(t)
	must(t, "run", "--name", "vt-anon", "-v", "/etc", "busybox", "true")
	id := newVolume(t, before, volumeNames(t))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Errorf("anonymous volume %q: want 64 hex digits", id)
	}
	data := filepath.Join(volumesDir(), id, "_data")
	want, _ := os.ReadFile(filepath.Join(os.Getenv("ROOTFS"), "etc", "passwd"))
	if got, err := os.ReadFile(filepath.Join(data, "passwd")); err != nil || string(got) != string(want) || len(want) == 0 {
		t.Errorf("the image's /etc/passwd in the new volume: %q, %v", got, err)
	}
	var v []struct{ Labels map[string]string }
	json.Unmarshal([]byte(must(t, "volume", "inspect", id)), &v)
	if _, ok := v[0].Labels["com.docker.volume.anonymous"]; len(v) != 1 || !ok {
		t.Errorf("anonymous volume's labels: %v", v)
	}
	must(t, "rm", "-v", "vt-anon")
	if _, err := os.Stat(filepath.Join(volumesDir(), id)); err == nil {
		t.Errorf("rm -v left %s", id)
	}
	// Without -v it stays, as in Docker.
	must(t, "run", "--name", "vt-anon2", "-v", "/data", "busybox", "true")
	id = newVolume(t, before, volumeNames(t))
	must(t, "rm", "vt-anon2")
	if _, err := os.Stat(filepath.Join(volumesDir(), id, "_data")); err != nil {
		t.Errorf("rm without -v removed the volume: %v", err)
	}
	must(t, "volume", "rm", id)
	// --rm removes it, foreground and detached.
	must(t, "run", "--rm", "-v", "/data", "busybox", "true")
	must(t, "run", "--rm", "-d", "--mount", "type=volume,dst=/data", "busybox", "true")
	waitFor(t, "the detached --rm container's removal", func() bool { return strings.TrimSpace(must(t, "ps", "-aq")) == "" })
	waitFor(t, "its anonymous volume's removal", func() bool { return len(volumeNames(t)) == len(before) })
	// A --userns private container's new volume is its root's.
	must(t, "run", "--name", "vt-userns", "--userns", "private", "-v", "/data", "busybox", "touch", "/data/mine")
	id = newVolume(t, before, volumeNames(t))
	base := skiffRange(t, "/etc/subuid")
	for _, f := range []string{"", "mine"} {
		if uid, _ := hostOwner(t, filepath.Join(volumesDir(), id, "_data", f)); uid != base {
			t.Errorf("--userns private volume %s: owner %d, want %d", f, uid, base)
		}
	}
	must(t, "rm", "-v", "vt-userns")
}

// mountLine is the line of mountinfo whose mount point is target.
func mountLine(mountinfo, target string) []string {
	for _, line := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == target {
			return f
		}
	}
	return nil
}

// TestVolumeMountFlag: --mount of each type, with Docker's keys, as the
// container's mountinfo shows it: a read-only bind, a volume, a tmpfs
// with its size and mode, and -v's :ro.
func TestVolumeMountFlag(t *testing.T) {
	before := hostMounts(t)
	dir := t.TempDir()
	out := must(t, "run", "--rm",
		"--mount", "type=bind,source="+dir+",target=/b,readonly",
		"--mount", "type=volume,src=vt-mount,dst=/v,volume-nocopy",
		"--mount", "type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770",
		"-v", "vt-mount:/vro:ro",
		"busybox", "cat", "/proc/self/mountinfo")
	checks := map[string]func(f []string) bool{
		"/b": func(f []string) bool { return strings.HasPrefix(f[5], "ro") && strings.HasSuffix(dir, f[3]) },
		"/v": func(f []string) bool {
			return strings.HasPrefix(f[5], "rw") && strings.HasSuffix(f[3], "/volumes/vt-mount/_data")
		},
		"/vro": func(f []string) bool {
			return strings.HasPrefix(f[5], "ro") && strings.HasSuffix(f[3], "/volumes/vt-mount/_data")
		},
		"/t": func(f []string) bool {
			i := slices.Index(f, "-")
			return i > 0 && len(f) > i+3 && f[i+1] == "tmpfs" && strings.Contains(f[i+3], "size=1024k") && strings.Contains(f[i+3], "mode=1770")
		},
	}
	for target, ok := range checks {
		if f := mountLine(out, target); f == nil || !ok(f) {
			t.Errorf("mount %s in the container: %q", target, f)
		}
	}
	must(t, "volume", "rm", "vt-mount")
	assertNothingLeft(t, before)
}

// tarOf makes a tar of entries: name, then content or "->target".
func tarOf(t *testing.T, entries ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i < len(entries); i += 2 {
		h := &tar.Header{Name: entries[i], Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(entries[i+1]))}
		if target, ok := strings.CutPrefix(entries[i+1], "->"); ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, target, 0
		}
		tw.WriteHeader(h)
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(entries[i+1]))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// untarOne reads the tar data and returns its entries' names and the
// content of the first file.
func untarOne(t *testing.T, data string) (names []string, content string) {
	tr := tar.NewReader(strings.NewReader(data))
	for {
		h, err := tr.Next()
		if err != nil {
			return names, content
		}
		names = append(names, h.Name)
		if h.Typeflag == tar.TypeReg && content == "" {
			b, _ := io.ReadAll(tr)
			content = string(b)
		}
	}
}

// TestCp: skiff cp both ways, on a running container and a stopped one,
// through symlinks the container planted (/x -> /etc, /y ->
// ../../../etc): they resolve inside its root, never to the host's
// files; and "-" for a tar on stdin or stdout.
func TestCp(t *testing.T) {
	before := hostMounts(t)
	dir := t.TempDir()
	detached(t, "vt-cp", "--hostname", "inside-cp", "busybox", "sh", "-c",
		"ln -s /etc /x; ln -s ../../../etc /y; echo planted > /etc/planted; touch /ready; sleep 300")
	waitFor(t, "the container's symlinks", func() bool { return skiff(t, "exec", "vt-cp", "test", "-e", "/ready").status == 0 })
	out := filepath.Join(dir, "hostname")
	must(t, "cp", "vt-cp:/x/hostname", out)
	if got, _ := os.ReadFile(out); string(got) != "inside-cp\n" {
		t.Errorf("cp vt-cp:/x/hostname read %q, want the container's (inside-cp)", got)
	}
	must(t, "cp", "vt-cp:/y/planted", out+"2")
	if got, _ := os.ReadFile(out + "2"); string(got) != "planted\n" {
		t.Errorf("cp vt-cp:/y/planted read %q", got)
	}
	src := filepath.Join(dir, "skiff-cp-file")
	os.WriteFile(src, []byte("from the host\n"), 0o644)
	must(t, "cp", src, "vt-cp:/x/")
	if got := must(t, "exec", "vt-cp", "cat", "/etc/skiff-cp-file"); got != "from the host\n" {
		t.Errorf("cp into /x/: the container's /etc/skiff-cp-file is %q", got)
	}
	if _, err := os.Stat("/etc/skiff-cp-file"); err == nil {
		os.Remove("/etc/skiff-cp-file")
		t.Error("cp into the container's /x/ wrote the host's /etc")
	}
	// - : a tar on stdout, and one on stdin, whose own symlink to /
	// leads to the container's root.
	names, content := untarOne(t, must(t, "cp", "vt-cp:/x/hostname", "-"))
	if len(names) != 1 || names[0] != "hostname" || content != "inside-cp\n" {
		t.Errorf("cp vt-cp:/x/hostname -: %v %q", names, content)
	}
	r := skiffIn(t, tarOf(t, "a", "->/", "a/skiff-pwned", "through a\n", "b", "->../../../../..", "b/skiff-pwned-b", "b\n"), "cp", "-", "vt-cp:/y/")
	if r.status != 0 {
		t.Errorf("cp - vt-cp:/y/: %d %s", r.status, r.stderr)
	}
	// /y is the container's /etc, and the tar's symlinks lead there.
	if got := must(t, "exec", "vt-cp", "cat", "/etc/skiff-pwned", "/etc/skiff-pwned-b"); got != "through a\nb\n" {
		t.Errorf("the tar's files in the container: %q", got)
	}
	for _, f := range []string{"/skiff-pwned", "/skiff-pwned-b", "/etc/skiff-pwned", "/etc/skiff-pwned-b"} {
		if _, err := os.Stat(f); err == nil {
			os.Remove(f)
			t.Errorf("a tar through cp - wrote the host's %s", f)
		}
	}
	// A symlink is copied as it is; -L, or "/" at the end, copies the
	// folder it points to, in the container.
	must(t, "cp", "vt-cp:/x", filepath.Join(dir, "link"))
	if target, err := os.Readlink(filepath.Join(dir, "link")); err != nil || target != "/etc" {
		t.Errorf("cp of the symlink /x: %q, %v", target, err)
	}
	for _, args := range [][]string{{"cp", "-L", "vt-cp:/x", filepath.Join(dir, "etc")}, {"cp", "vt-cp:/y/", filepath.Join(dir, "etc2")}} {
		must(t, args...)
		if got, _ := os.ReadFile(filepath.Join(args[len(args)-1], "planted")); string(got) != "planted\n" {
			t.Errorf("%v: planted is %q", args, got)
		}
	}
	// Stopped: the container's overlay, mounted for the copy only.
	must(t, "stop", "-t", "0", "vt-cp")
	mountsStopped := hostMounts(t)
	must(t, "cp", "vt-cp:/x/planted", out+"3")
	if got, _ := os.ReadFile(out + "3"); string(got) != "planted\n" {
		t.Errorf("cp from the stopped container: %q", got)
	}
	must(t, "cp", src, "vt-cp:/y/again")
	if _, content := untarOne(t, must(t, "cp", "vt-cp:/etc/again", "-")); content != "from the host\n" {
		t.Errorf("cp into the stopped container, and back: %q", content)
	}
	if _, err := os.Stat("/etc/again"); err == nil {
		os.Remove("/etc/again")
		t.Error("cp into the stopped container wrote the host's /etc")
	}
	if hostMounts(t) != mountsStopped {
		t.Error("cp of a stopped container left a mount")
	}
	for _, args := range [][]string{{"cp", "vt-cp:/nope", dir}, {"cp", src, "vt-cp:/nowhere/"}, {"cp", dir, dir}, {"cp", "no-such:/x", dir}} {
		oneLineError(t, skiff(t, args...), strings.Join(args, " "))
	}
	must(t, "rm", "vt-cp")
	assertNothingLeft(t, before)
}

// TestCpUserns: files copied into a container with --userns private are
// its root's (the host's first ID of skiff's range), running or stopped,
// and a tar copied out gives the container's owners.
func TestCpUserns(t *testing.T) {
	before := hostMounts(t)
	src := filepath.Join(t.TempDir(), "f")
	os.WriteFile(src, []byte("mine\n"), 0o644)
	detached(t, "vt-cpu", "--userns", "private", "busybox", "sleep", "300")
	must(t, "cp", src, "vt-cpu:/tmp/f")
	if got := must(t, "exec", "vt-cpu", "stat", "-c", "%u:%g", "/tmp/f"); got != "0:0\n" {
		t.Errorf("the copied file's owner inside: %q, want 0:0", got)
	}
	tr := tar.NewReader(strings.NewReader(must(t, "cp", "vt-cpu:/tmp/f", "-")))
	if h, err := tr.Next(); err != nil || h.Uid != 0 || h.Gid != 0 {
		t.Errorf("cp vt-cpu:/tmp/f -: %+v, %v; want owner 0:0", h, err)
	}
	must(t, "stop", "-t", "0", "vt-cpu")
	must(t, "cp", src, "vt-cpu:/tmp/g")
	upper := filepath.Join(roots[1], "containers", inspect(t, "vt-cpu").ID, "upper", "tmp", "g")
	if uid, gid := hostOwner(t, upper); uid != skiffRange(t, "/etc/subuid") || gid != skiffRange(t, "/etc/subgid") {
		t.Errorf("the file copied into the stopped container is %d:%d on the host, want the container's root", uid, gid)
	}
	must(t, "rm", "vt-cpu")
	assertNothingLeft(t, before)
}
