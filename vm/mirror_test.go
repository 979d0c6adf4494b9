package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ulikunitz/xz"
)

// fakeArchive is a Debian archive in miniature: a signed InRelease, a
// Packages.xz and two pool files, served by an httptest.Server.
type fakeArchive struct {
	files   map[string][]byte // path under the archive root -> content
	pubKeys []byte            // armored public key of the signer
}

const fakeKernel = "linux-image-6.1.0-99-amd64"

// newFakeArchive builds the archive. signer signs InRelease; trusted is
// the key the mirror will believe (normally the same one).
func newFakeArchive(t *testing.T, signer, trusted *openpgp.Entity, suite string) *fakeArchive {
	t.Helper()
	a := &fakeArchive{files: map[string][]byte{}}
	vmlinuz := append([]byte("bzImage stub "), xzBytes(t, []byte("\x7fELF fake vmlinux"))...)
	debs := []struct {
		pkg, version, pool string
		files              map[string]string
	}{
		{fakeKernel, "6.1.999-1", "pool/main/l/linux-signed-amd64/" + fakeKernel + "_6.1.999-1_amd64.deb", map[string]string{
			"./boot/vmlinuz-6.1.0-99-amd64":                     string(vmlinuz),
			"./lib/modules/6.1.0-99-amd64/kernel/fs/overlay.ko": "module",
		}},
		{busyboxPkg, "1:1.35.0-4", "pool/main/b/busybox/busybox-static_1.35.0-4_amd64.deb", map[string]string{
			"./bin/busybox": "#!/bin/sh\necho busybox\n",
		}},
	}
	var index strings.Builder
	fmt.Fprintf(&index, "Package: %s\nVersion: 6.1.999-1\nArchitecture: amd64\nDepends: %s (= 6.1.999-1)\n"+
		"Description: Linux for 64-bit PCs (meta-package)\n continued line\nFilename: pool/main/l/linux-signed-amd64/%s_6.1.999-1_amd64.deb\nSize: 3\nSHA256: %s\n\n",
		kernelMeta, fakeKernel, kernelMeta, sha(nil))
	for _, d := range debs {
		deb := fakeDeb(t, d.files)
		a.files[d.pool] = deb
		fmt.Fprintf(&index, "Package: %s\nVersion: %s\nArchitecture: amd64\nFilename: %s\nSize: %d\nSHA256: %s\n\n",
			d.pkg, d.version, d.pool, len(deb), sha(deb))
	}
	packages := xzBytes(t, []byte(index.String()))
	a.files["dists/bookworm/main/binary-amd64/Packages.xz"] = packages
	release := fmt.Sprintf("Origin: Debian\nSuite: old\nCodename: %s\nMD5Sum:\n 0123 %d main/binary-amd64/Packages.xz\nSHA256:\n %s %d main/binary-amd64/Packages\n %s %d main/binary-amd64/Packages.xz\n",
		suite, len(packages), sha([]byte(index.String())), index.Len(), sha(packages), len(packages))
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, signer.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(release))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a.files["dists/bookworm/InRelease"] = signed.Bytes()
	var pub bytes.Buffer
	aw, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := trusted.Serialize(aw); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	a.pubKeys = pub.Bytes()
	return a
}

// serve starts the server and makes it the harness's mirror, with apt
// bypassed, for the rest of the test.
func (a *fakeArchive) serve(t *testing.T) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := a.files[strings.TrimPrefix(r.URL.Path, "/debian/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	m, err := newDebianMirror(srv.URL+"/debian", "bookworm", a.pubKeys)
	if err != nil {
		t.Fatal(err)
	}
	savedMirror, savedNoApt := defaultMirror, noApt
	defaultMirror, noApt = m, true
	t.Cleanup(func() { defaultMirror, noApt = savedMirror, savedNoApt })
}

func testKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestMirrorAcceptsAGoodArchive(t *testing.T) {
	key := testKey(t, "archive")
	a := newFakeArchive(t, key, key, "bookworm")
	a.serve(t)
	c := cache{t.TempDir()}
	vmlinux, modules, err := c.kernel()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(vmlinux); string(got) != "\x7fELF fake vmlinux" {
		t.Errorf("vmlinux = %q", got)
	}
	if _, err := os.Stat(filepath.Join(modules, "kernel/fs/overlay.ko")); err != nil {
		t.Error(err)
	}
	busybox, err := c.busybox()
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(busybox); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("busybox: %v %v", info, err)
	}
	// A second run, in a new process, finds the kernel in the cache and
	// asks the mirror nothing.
	defaultMirror, err = newDebianMirror("http://127.0.0.1:1/nothing-listens-here", "bookworm", a.pubKeys)
	if err != nil {
		t.Fatal(err)
	}
	if again, _, err := c.kernel(); err != nil || again != vmlinux {
		t.Errorf("second run: %s, %v", again, err)
	}
	// The same file names as apt-get download gives them.
	for _, name := range []string{fakeKernel + "_6.1.999-1_amd64.deb", "busybox-static_1%3a1.35.0-4_amd64.deb"} {
		if _, err := os.Stat(c.path("debs", name)); err != nil {
			t.Error(err)
		}
	}
}

func TestMirrorRefusesWhatItCannotVerify(t *testing.T) {
	key, other := testKey(t, "archive"), testKey(t, "other")
	good := func() *fakeArchive { return newFakeArchive(t, key, key, "bookworm") }
	kernelDeb := "pool/main/l/linux-signed-amd64/" + fakeKernel + "_6.1.999-1_amd64.deb"
	for _, tc := range []struct {
		name    string
		archive func() *fakeArchive
		want    string
	}{
		{"tampered InRelease", func() *fakeArchive {
			a := good()
			a.files["dists/bookworm/InRelease"] = bytes.Replace(a.files["dists/bookworm/InRelease"], []byte("Origin: Debian"), []byte("Origin: Evil!!"), 1)
			return a
		}, "InRelease: bad signature"},
		{"unknown signer", func() *fakeArchive { return newFakeArchive(t, other, key, "bookworm") }, "InRelease: bad signature"},
		{"another suite", func() *fakeArchive { return newFakeArchive(t, key, key, "sid") }, `signed for suite "sid"`},
		{"tampered Packages", func() *fakeArchive {
			a := good()
			flipLastByte(a.files["dists/bookworm/main/binary-amd64/Packages.xz"])
			return a
		}, "Packages.xz: checksum mismatch"},
		{"tampered deb", func() *fakeArchive {
			a := good()
			flipLastByte(a.files[kernelDeb])
			return a
		}, fakeKernel + "_6.1.999-1_amd64.deb: checksum mismatch"},
		{"wrong size", func() *fakeArchive {
			a := good()
			a.files[kernelDeb] = append(a.files[kernelDeb], 0)
			return a
		}, fakeKernel + "_6.1.999-1_amd64.deb: size mismatch"},
		{"truncated deb", func() *fakeArchive {
			a := good()
			a.files[kernelDeb] = a.files[kernelDeb][:100]
			return a
		}, "size mismatch: got 100 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.archive().serve(t)
			dir := t.TempDir()
			_, _, err := cache{dir}.kernel()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			assertNoFiles(t, dir)
		})
	}
}

func TestMirrorUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	m, err := newDebianMirror(url, "bookworm", debianArchiveKeys)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.kernelPackage()
	if err == nil || !strings.Contains(err.Error(), "cannot reach the Debian mirror") {
		t.Errorf("err = %v", err)
	}
}

// TestEmbeddedDebianKeys checks that the keys compiled in are Debian's
// bookworm signers.
func TestEmbeddedDebianKeys(t *testing.T) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(debianArchiveKeys))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range keys {
		for name := range e.Identities {
			names = append(names, name)
		}
	}
	got := strings.Join(names, "; ")
	for _, want := range []string{"Debian Archive Automatic Signing Key (12/bookworm)", "Debian Stable Release Key (12/bookworm)"} {
		if !strings.Contains(got, want) {
			t.Errorf("embedded keys %q lack %q", got, want)
		}
	}
}

func TestUnpackDebStaysInside(t *testing.T) {
	for name, entries := range map[string][]tarEntry{
		"dot-dot":         {{name: "../escaped", body: "x"}},
		"through symlink": {{name: "./lib", link: ".."}, {name: "./lib/escaped", body: "x"}},
	} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			deb := filepath.Join(base, "evil.deb")
			if err := os.WriteFile(deb, arDeb(xzBytes(t, tarBytes(t, entries))), 0o644); err != nil {
				t.Fatal(err)
			}
			err := unpackDeb(deb, filepath.Join(base, "out"))
			if _, statErr := os.Stat(filepath.Join(base, "escaped")); statErr == nil {
				t.Fatal("a file was written outside the unpack folder")
			}
			if err == nil {
				t.Error("no error")
			}
		})
	}
}

func assertNoFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left in the cache: %s", path)
		}
		return nil
	})
}

func flipLastByte(b []byte) { b[len(b)-1] ^= 0xff }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func xzBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type tarEntry struct{ name, body, link string }

func tarBytes(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func fakeDeb(t *testing.T, files map[string]string) []byte {
	var entries []tarEntry
	for name, body := range files {
		entries = append(entries, tarEntry{name: name, body: body})
	}
	return arDeb(xzBytes(t, tarBytes(t, entries)))
}

// arDeb wraps a data.tar.xz into the ar archive a .deb is.
func arDeb(dataTarXz []byte) []byte {
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"data.tar.xz", dataTarXz}} {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// TestAptDebianArchive: without --mirror, the Debian archive comes from
// apt's sources, in either format; the security archive is not it.
func TestAptDebianArchive(t *testing.T) {
	dir := t.TempDir()
	saved := aptSourceFiles
	defer func() { aptSourceFiles = saved }()
	aptSourceFiles = []string{filepath.Join(dir, "*.sources"), filepath.Join(dir, "*.list")}
	if got := aptDebianArchive(); got != "" {
		t.Errorf("no sources: %q, want none", got)
	}
	os.WriteFile(filepath.Join(dir, "a.sources"), []byte("Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.list"), []byte("# comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n"), 0o644)
	if got := aptDebianArchive(); got != "http://mirror.example/debian" {
		t.Errorf("aptDebianArchive() = %q, want the one-line source's archive", got)
	}
}
