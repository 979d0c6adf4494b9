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
// stdin, its terminal's master with -t, which only the monitor holds. The
// monitor first sends each client one byte, with a copy of that master
// (SCM_RIGHTS) if there is one: the client sizes the container's terminal
// as its own, now and whenever its window changes.
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
// container. It returns the connection, and the master of the
// container's terminal, if it has one, for its size only.
func DialAttach(c *container.Container) (*net.UnixConn, *os.File, error) {
	path, done, err := socketPath(c)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("attach to %s: its monitor does not answer: %w", c.Name(), err)
	}
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(make([]byte, 1), oob)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("attach to %s: %w", c.Name(), err)
	}
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	if len(msgs) == 1 {
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
			unix.CloseOnExec(fds[0])
			return conn, os.NewFile(uintptr(fds[0]), "pty"), nil
		}
	}
	return conn, nil, nil
}

// stdinHub serves the attach socket: it writes what clients send to the
// stdin of the container's current process, which changes at every
// restart.
type stdinHub struct {
	listener *net.UnixListener
	mu       sync.Mutex
	stdin    io.Writer // nil between two processes
	master   *os.File  // the terminal's master, with -t
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
		go h.feed(conn.(*net.UnixConn))
	}
}

// feed copies what one client sends to the container's stdin, until the
// client goes. The container's stdin stays open, as in Docker.
func (h *stdinHub) feed(conn *net.UnixConn) {
	defer conn.Close()
	if h.hello(conn) != nil {
		return
	}
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

// hello sends a new client its byte, with the master if there is one.
// Under the lock: the master must not be closed meanwhile.
func (h *stdinHub) hello(conn *net.UnixConn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rights []byte
	if h.master != nil {
		rights = unix.UnixRights(int(h.master.Fd()))
	}
	_, _, err := conn.WriteMsgUnix([]byte{0}, rights, nil)
	return err
}

// setStdin makes w the stdin that clients write to, and master the
// terminal they size; nil: none.
func (h *stdinHub) setStdin(w io.Writer, master *os.File) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.stdin, h.master = w, master
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
