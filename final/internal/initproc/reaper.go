package initproc

import (
	"os"
	"os/exec"
	"os/signal"
	"skiff/internal/exit"

	"golang.org/x/sys/unix"
)

// reap is --init: instead of becoming the command, init starts it as a
// child and stays PID 1. It forwards the signals it gets to the command
// and reaps every orphan that the kernel reparents to it, so no zombie
// piles up, as tini does for `docker run --init`.
func reap(path string, argv, env []string, sync *os.File) error {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	cmd := exec.Command(path)
	cmd.Args, cmd.Env = argv, env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return &exit.ExecError{Name: argv[0], Err: err}
	}
	// The command runs: the runtime sees EOF, as after an exec. Shut the
	// socket down, not only the descriptor: giveUpWithRuntime may still
	// be reading it, and a read in progress would keep it open.
	unix.Shutdown(int(sync.Fd()), unix.SHUT_RDWR)
	sync.Close()
	child := cmd.Process.Pid
	go func() {
		for sig := range signals {
			unix.Kill(child, sig.(unix.Signal))
		}
	}()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid == child {
			os.Exit(exit.WaitCode(ws))
		}
	}
}
