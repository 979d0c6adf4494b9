package registry

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress reports a pull, layer by layer: what was downloaded of each
// layer's compressed blob, out of its size. On a terminal it redraws a
// bar in place; elsewhere (a log, a pipe, CI) it writes one line per
// layer, when the layer is done, and never a carriage return.
type Progress struct {
	w        io.Writer
	terminal bool
	every    time.Duration // at most one redraw this often

	mu       sync.Mutex
	counters map[string]*atomic.Int64 // downloaded bytes, by blob digest
}

// NewProgress writes to w, drawing bars if w is a terminal.
func NewProgress(w io.Writer, terminal bool) *Progress {
	return &Progress{w: w, terminal: terminal, every: 100 * time.Millisecond, counters: map[string]*atomic.Int64{}}
}

// counter is the byte count of the blob with this digest ("sha256:HEX").
func (p *Progress) counter(digest string) *atomic.Int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.counters[digest]
	if !ok {
		c = &atomic.Int64{}
		p.counters[digest] = c
	}
	return c
}

// Transport counts the bytes of every blob downloaded through it: the
// response to GET /v2/NAME/blobs/DIGEST, followed through redirects (a
// registry may send blobs from a CDN), is counted under DIGEST.
func (p *Progress) Transport(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil || req.Method != http.MethodGet || resp.StatusCode/100 != 2 {
			return resp, err // a redirect's body is not the blob's
		}
		if digest, ok := blobDigest(req); ok {
			resp.Body = &countingBody{ReadCloser: resp.Body, n: p.counter(digest)}
		}
		return resp, err
	})
}

// blobDigest is the digest of the blob req downloads: the last part of
// the first request's path, /v2/NAME/blobs/DIGEST, before any redirect.
func blobDigest(req *http.Request) (string, bool) {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	_, digest, ok := strings.Cut(req.URL.Path, "/blobs/")
	return digest, ok && strings.HasPrefix(digest, "sha256:")
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// Exists reports a layer the store has already.
func (p *Progress) Exists(label string) { fmt.Fprintf(p.w, "%s: already exists\n", label) }

// Track reports the download of a layer while it is read through r (the
// unpacking side): on a terminal, a bar of downloaded bytes out of size
// each time r is read, at most every p.every. Done ends the layer's
// report.
func (p *Progress) Track(r io.Reader, label, digest string, size int64) *Tracked {
	return &Tracked{r: r, p: p, label: label, n: p.counter(digest), size: size}
}

// Tracked is a layer being downloaded.
type Tracked struct {
	r     io.Reader
	p     *Progress
	label string
	n     *atomic.Int64
	size  int64
	drawn time.Time
}

func (t *Tracked) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if t.p.terminal && time.Since(t.drawn) >= t.p.every {
		t.drawn = time.Now()
		fmt.Fprintf(t.p.w, "\r%s: %s", t.label, Bar(t.n.Load(), t.size, 30))
	}
	return n, err
}

// Done ends the layer's report with what was downloaded.
func (t *Tracked) Done() {
	line := fmt.Sprintf("%s: pull complete, %s", t.label, humanSize(t.n.Load()))
	if t.p.terminal {
		fmt.Fprintf(t.p.w, "\r%s\033[K\n", line) // over the bar, and clear what is left of it
		return
	}
	fmt.Fprintln(t.p.w, line)
}

// Bar draws "[=====>      ] 12.3 MB / 45.6 MB" for done bytes of total,
// width characters between the brackets; without a total, the count.
func Bar(done, total int64, width int) string {
	if total <= 0 {
		return "downloading " + humanSize(done)
	}
	done = min(done, total)
	filled := int(done * int64(width) / total)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("[%s] %s / %s", bar, humanSize(done), humanSize(total))
}
