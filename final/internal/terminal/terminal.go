// Package terminal gives containers a real terminal (docker run -t): a
// pseudo-terminal from the container's own devpts instance, whose master
// the runtime holds and whose slave becomes the container's stdio.
package terminal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// OpenPTY opens a new pseudo-terminal through ptmx: /dev/ptmx inside the
// container, or /proc/PID/root/dev/ptmx from outside it. It returns the
// master and the path of the slave.
func OpenPTY(ptmx string) (*os.File, string, error) {
	fd, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", ptmx, err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0) // unlock the slave
	}
	if err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("ioctl %s: %w", ptmx, err)
	}
	slave := filepath.Join(filepath.Dir(ptmx), "pts", strconv.Itoa(n))
	return os.NewFile(uintptr(fd), ptmx), slave, nil
}

// AttachSlave makes the slave this process's controlling terminal and its
// stdin, stdout and stderr, as a login does. Call it in a new session.
func AttachSlave(slave string) error {
	fd, err := unix.Open(slave, unix.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", slave, err)
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("ioctl TIOCSCTTY %s: %w", slave, err)
	}
	for std := 0; std < 3; std++ {
		if err := unix.Dup2(fd, std); err != nil {
			return fmt.Errorf("dup2 %s: %w", slave, err)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
	return nil
}

// SendFile passes an open file over a unix socket (SCM_RIGHTS): the
// receiver gets its own descriptor for the same open file.
func SendFile(socket *os.File, f *os.File) error {
	return unix.Sendmsg(int(socket.Fd()), []byte{0}, unix.UnixRights(int(f.Fd())), nil, 0)
}

// ReceiveFile is the other end of SendFile.
func ReceiveFile(socket *os.File, name string) (*os.File, error) {
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(int(socket.Fd()), make([]byte, 1), oob, 0)
	if err != nil {
		return nil, fmt.Errorf("recvmsg: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("recvmsg: no file received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("recvmsg: no file received")
	}
	return os.NewFile(uintptr(fds[0]), name), nil
}

// Proxy connects the user's terminal to the container's: raw mode, so that
// Ctrl-C reaches the container as a byte and its tty turns it into SIGINT;
// the window size, now and on every SIGWINCH. It returns when the
// container side closes.
func Proxy(master *os.File, in *os.File, out io.Writer) {
	if term.IsTerminal(int(in.Fd())) {
		if state, err := term.MakeRaw(int(in.Fd())); err == nil {
			defer term.Restore(int(in.Fd()), state)
		}
		resize := make(chan os.Signal, 1)
		signal.Notify(resize, unix.SIGWINCH)
		defer signal.Stop(resize)
		go func() {
			for range resize {
				CopySize(in, master)
			}
		}()
		CopySize(in, master)
	}
	if in != nil {
		go io.Copy(master, in)
	}
	io.Copy(out, master) // ends with EIO once the last slave is closed
}

// CopySize gives the container's terminal the user's window size.
func CopySize(from, to *os.File) {
	if ws, err := unix.IoctlGetWinsize(int(from.Fd()), unix.TIOCGWINSZ); err == nil {
		unix.IoctlSetWinsize(int(to.Fd()), unix.TIOCSWINSZ, ws)
	}
}
