package lifecycle

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"skiff/internal/container"
)

// The attach socket of an interactive container (-i) is a unix socket in
// its folder, mode 0600 in a folder of mode 0700, both root's: what a
// client (`skiff attach`, `start -ai`) sends on it goes to the container's
// stdin, its terminal's master with -t, which only the monitor holds.
// Output needs no socket: the container's stdout and stderr go to its log
// (through the monitor with a terminal), and a client follows the log.
const attachSocket = "attach.sock"

// socketPath is a short path to the container's attach socket: a unix
// socket's path has at most 107 bytes, and a folder under a long --root
// ends further. /proc/self/fd/N of the open folder leads there as well.
func socketPath(c *container.Container) (string, func(), error) {
	fd, err := unix.Open(c.Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", c.Dir, err)
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", fd, attachSocket), func() { unix.Close(fd) }, nil
}

// DialAttach connects to the attach socket of a running interactive
// container.
func DialAttach(c *container.Container) (net.Conn, error) {
	path, done, err := socketPath(c)
	if err != nil {
		return nil, err
	}
	defer done()
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("attach to %s: its monitor does not answer: %w", c.Name(), err)
	}
	return conn, nil
}

// stdinHub serves the attach socket: it writes what clients send to the
// stdin of the container's current process, which changes at every
// restart.
type stdinHub struct {
	listener *net.UnixListener
	mu       sync.Mutex
	stdin    io.Writer // nil between two processes
}

// listenAttach makes the container's attach socket and serves it.
func listenAttach(c *container.Container) (*stdinHub, error) {
	path, done, err := socketPath(c)
	if err != nil {
		return nil, err
	}
	defer done()
	os.Remove(c.Path(attachSocket)) // a killed monitor's
	old := unix.Umask(0o177)        // mode 0600 from the start
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", c.Path(attachSocket), err)
	}
	l.SetUnlinkOnClose(false) // its /proc path no longer leads there: removed in close
	h := &stdinHub{listener: l}
	go h.serve()
	return h, nil
}

func (h *stdinHub) serve() {
	for {
		conn, err := h.listener.Accept()
		if err != nil {
			return // closed
		}
		go h.feed(conn)
	}
}

// feed copies what one client sends to the container's stdin, until the
// client goes. The container's stdin stays open, as in Docker.
func (h *stdinHub) feed(conn net.Conn) {
	defer conn.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			h.mu.Lock()
			w := h.stdin
			h.mu.Unlock()
			if w != nil {
				w.Write(buf[:n])
			}
		}
		if err != nil {
			return
		}
	}
}

// setStdin makes w the stdin that clients write to; nil: none.
func (h *stdinHub) setStdin(w io.Writer) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.stdin = w
	h.mu.Unlock()
}

// close stops serving and removes the socket.
func (h *stdinHub) close(c *container.Container) {
	if h == nil {
		return
	}
	h.listener.Close()
	os.Remove(c.Path(attachSocket))
}
