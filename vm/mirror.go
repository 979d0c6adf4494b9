package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ulikunitz/xz"
)

// Where apt cannot fetch the kernel and busybox (no apt at all, or an apt
// whose sources are not Debian's, as on Ubuntu), the harness downloads them
// from a Debian mirror itself and checks them the way apt does: the suite's
// InRelease file must carry a valid signature by one of Debian's archive
// keys, which are compiled into bin/vm; that signed file gives the SHA-256
// and size of the Packages index, and the index gives the SHA-256 and size
// of every .deb. HTTPS alone would only prove which mirror answered, not
// that the mirror serves what Debian signed.

// mirrorURL is the Debian archive to fetch from (--mirror, DEBIAN_MIRROR).
// Without it, the harness takes the first Debian archive in the host's apt
// sources, if it has any: it names no mirror of its own.
var mirrorURL string

const (
	debianSuite   = "bookworm"
	packagesIndex = "main/binary-amd64/Packages" // with .xz or .gz, as the Release file lists it
	maxInRelease  = 16 << 20
)

// debianArchiveKeys holds the public keys that sign bookworm's InRelease;
// the file says where they come from and how to refresh them.
//
//go:embed debian-archive-keys.asc
var debianArchiveKeys []byte

// debPackage is what the harness needs of one stanza of a Packages index.
type debPackage struct {
	name, version, arch string
	filename            string // path in the archive, pool/main/...
	size                int64
	sha256              string
	depends             string
}

// debianMirror fetches verified packages from one suite of a Debian
// archive. Its index is read once, on first use.
type debianMirror struct {
	base, suite string
	keys        openpgp.EntityList
	client      *http.Client
	index       map[string]debPackage
}

// defaultMirror is created on first use: an apt that works never needs it.
var defaultMirror *debianMirror

func bookwormMirror() (*debianMirror, error) {
	if defaultMirror == nil {
		base := mirrorURL
		if base == "" {
			base = aptDebianArchive()
		}
		if base == "" {
			return nil, errors.New("apt cannot fetch Debian's kernel here: set DEBIAN_MIRROR to the https address of a Debian archive mirror " +
				"(Debian's website lists them; any one does, every package is checked against Debian's keys) and try again")
		}
		m, err := newDebianMirror(strings.TrimRight(base, "/"), debianSuite, debianArchiveKeys)
		if err != nil {
			return nil, err
		}
		defaultMirror = m
	}
	return defaultMirror, nil
}

func newDebianMirror(base, suite string, armoredKeys []byte) (*debianMirror, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredKeys))
	if err != nil {
		return nil, fmt.Errorf("reading the embedded Debian archive keys: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = 30 * time.Second
	return &debianMirror{
		base:   strings.TrimSuffix(base, "/"),
		suite:  suite,
		keys:   keys,
		client: &http.Client{Transport: transport},
	}, nil
}

// kernelPackage resolves linux-image-amd64's Depends to the versioned kernel
// package it points at today, as `apt-cache depends` does.
func (m *debianMirror) kernelPackage() (string, error) {
	if err := m.loadIndex(); err != nil {
		return "", err
	}
	meta, ok := m.index[kernelMeta]
	if !ok {
		return "", fmt.Errorf("%s is not in %s %s", kernelMeta, m.base, m.suite)
	}
	for _, dep := range strings.Split(meta.depends, ",") {
		for _, alt := range strings.Split(dep, "|") {
			name, _, _ := strings.Cut(strings.TrimSpace(alt), " ")
			name, _, _ = strings.Cut(name, "(")
			if _, known := m.index[name]; known && strings.HasPrefix(name, "linux-image-") {
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("%s %s: %s depends on no kernel package (Depends: %s)", m.base, m.suite, kernelMeta, meta.depends)
}

// download fetches pkg's .deb into dir under the name apt-get download
// would give it, and returns its path. Only a file whose size and SHA-256
// match the signed index is ever renamed into dir.
func (m *debianMirror) download(pkg, dir string) (string, error) {
	if err := m.loadIndex(); err != nil {
		return "", err
	}
	p, ok := m.index[pkg]
	if !ok {
		return "", fmt.Errorf("%s is not in %s %s main", pkg, m.base, m.suite)
	}
	name, err := p.debFileName()
	if err != nil {
		return "", err
	}
	dest := filepath.Join(dir, name)
	if _, err := os.Stat(dest); err == nil {
		return dest, nil
	}
	step("downloading %s (%.1f MB) from %s", name, float64(p.size)/1e6, m.base)
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	err = m.fetch(p.filename, p.size, p.sha256, tmp)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644) // CreateTemp's 0600 is for the unverified bytes
	}
	if err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return "", err
	}
	return dest, nil
}

// debFileName is apt-get download's name for the package: the epoch's colon
// becomes %3a. The fields come from the signed index but are still checked,
// since they become a file name.
func (p debPackage) debFileName() (string, error) {
	name := p.name + "_" + strings.ReplaceAll(p.version, ":", "%3a") + "_" + p.arch + ".deb"
	if !safeDebName.MatchString(name) {
		return "", fmt.Errorf("package %q: unexpected characters in %q", p.name, name)
	}
	return name, nil
}

var safeDebName = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*_[A-Za-z0-9.+~%-]+_[a-z0-9-]+\.deb$`)

// loadIndex verifies InRelease, then downloads, checks and parses the
// Packages index it lists.
func (m *debianMirror) loadIndex() error {
	if m.index != nil {
		return nil
	}
	release, err := m.release()
	if err != nil {
		return err
	}
	var name, sum string
	var size int64
	for _, ext := range []string{".xz", ".gz"} {
		if sum, size, err = releaseEntry(release, packagesIndex+ext); err == nil {
			name = packagesIndex + ext
			break
		}
	}
	if name == "" {
		return fmt.Errorf("%s/dists/%s/InRelease lists no %s.xz or .gz", m.base, m.suite, packagesIndex)
	}
	step("downloading the package index %s (%.1f MB)", name, float64(size)/1e6)
	var buf bytes.Buffer
	if err := m.fetch("dists/"+m.suite+"/"+name, size, sum, &buf); err != nil {
		return err
	}
	var r io.Reader
	if strings.HasSuffix(name, ".xz") {
		r, err = xz.NewReader(&buf)
	} else {
		r, err = gzip.NewReader(&buf)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m.index, err = parsePackages(r)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// release downloads dists/SUITE/InRelease and returns its text once the
// signature has been verified against m.keys.
func (m *debianMirror) release() (string, error) {
	var buf bytes.Buffer
	path := "dists/" + m.suite + "/InRelease"
	if err := m.get(path, &buf, maxInRelease); err != nil {
		return "", err
	}
	block, _ := clearsign.Decode(buf.Bytes())
	if block == nil {
		return "", fmt.Errorf("%s/%s: not a clear-signed file", m.base, path)
	}
	if _, err := block.VerifySignature(m.keys, nil); err != nil {
		return "", fmt.Errorf("%s/%s: bad signature (not signed by a Debian archive key embedded in bin/vm): %w", m.base, path, err)
	}
	text := string(block.Plaintext)
	if field(text, "Codename") != m.suite && field(text, "Suite") != m.suite {
		return "", fmt.Errorf("%s/%s: signed for suite %q, not %q", m.base, path, field(text, "Codename"), m.suite)
	}
	if until := field(text, "Valid-Until"); until != "" {
		if t, err := time.Parse(time.RFC1123, until); err == nil && time.Now().After(t) {
			return "", fmt.Errorf("%s/%s: expired on %s (a stale mirror?)", m.base, path, until)
		}
	}
	return text, nil
}

// field returns the value of a top-level "Name: value" line of a Release
// file.
func field(text, name string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// releaseEntry finds name in the SHA256 section of a Release file.
func releaseEntry(release, name string) (sum string, size int64, err error) {
	inSHA256 := false
	for _, line := range strings.Split(release, "\n") {
		if !strings.HasPrefix(line, " ") {
			inSHA256 = line == "SHA256:"
			continue
		}
		f := strings.Fields(line)
		if inSHA256 && len(f) == 3 && f[2] == name {
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || size < 0 {
				break
			}
			return f[0], size, nil
		}
	}
	return "", 0, fmt.Errorf("no SHA256 entry for %s", name)
}

// parsePackages reads the stanzas of a Packages index into a map by
// package name. bookworm main has one version of each package for amd64.
func parsePackages(r io.Reader) (map[string]debPackage, error) {
	index := map[string]debPackage{}
	var p debPackage
	flush := func() {
		if p.name != "" && p.filename != "" && p.sha256 != "" {
			if _, dup := index[p.name]; !dup {
				index[p.name] = p
			}
		}
		p = debPackage{}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		key, value, ok := strings.Cut(line, ": ")
		if !ok || strings.HasPrefix(line, " ") {
			continue // a continuation line, or a field with an empty value
		}
		switch key {
		case "Package":
			p.name = value
		case "Version":
			p.version = value
		case "Architecture":
			p.arch = value
		case "Filename":
			p.filename = value
		case "SHA256":
			p.sha256 = value
		case "Depends":
			p.depends = value
		case "Size":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("package %s: bad Size %q", p.name, value)
			}
			p.size = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	flush()
	if len(index) == 0 {
		return nil, errors.New("no packages in the index")
	}
	return index, nil
}

// fetch downloads path from the mirror into w and checks it against the
// size and SHA-256 the signed metadata gives for it. The caller must
// discard what w received when fetch fails.
func (m *debianMirror) fetch(path string, size int64, sum string, w io.Writer) error {
	if strings.HasPrefix(path, "/") || strings.Contains(path, "..") {
		return fmt.Errorf("refusing the archive path %q", path)
	}
	h := sha256.New()
	counter := &countWriter{}
	if err := m.get(path, io.MultiWriter(w, h, counter), size+1); err != nil {
		return err
	}
	if counter.n != size {
		return fmt.Errorf("%s/%s: size mismatch: got %d bytes, the signed index says %d", m.base, path, counter.n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(sum) {
		return fmt.Errorf("%s/%s: checksum mismatch: SHA-256 %s, the signed index says %s", m.base, path, got, sum)
	}
	return nil
}

// get copies at most limit bytes of base/path into w.
func (m *debianMirror) get(path string, w io.Writer, limit int64) error {
	url := m.base + "/" + path
	resp, err := m.client.Get(url)
	if err != nil {
		return fmt.Errorf("cannot reach the Debian mirror: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if _, err := io.Copy(w, io.LimitReader(resp.Body, limit)); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return len(b), nil
}

// aptSourceFiles are where apt's sources are, in both formats.
var aptSourceFiles = []string{"/etc/apt/sources.list", "/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"}

// aptDebianArchive is the first Debian archive (not its security archive)
// in the host's apt sources, or "".
func aptDebianArchive() string {
	uri := regexp.MustCompile(`(?m)^\s*(?:deb(?:\s+\[[^\]]*\])?|URIs:)\s+(\S+)`)
	for _, pattern := range aptSourceFiles {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, m := range uri.FindAllStringSubmatch(string(data), -1) {
				if u := m[1]; strings.HasSuffix(strings.TrimRight(u, "/"), "/debian") {
					return u
				}
			}
		}
	}
	return ""
}
