package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/lifecycle"
)

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print the output of a detached container",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the container stops for good"},
			&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "print only the last `N` lines (all: every line)"},
			&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "start each line with the time it was written (RFC 3339, UTC)"},
			&cli.StringFlag{Name: "since", Usage: "print only the lines written since `TIME`: a duration back from now (10m, 1h30m), an RFC 3339 time or a Unix timestamp"},
		},
		UseShortOptionHandling: true,
		Action:                 command(logsAction),
	}
}

func logsAction(ctx context.Context, cmd *cli.Command, e *env) error {
	c, err := e.namedContainer(cmd, "[-f] [-t] [--tail N] [--since TIME] NAME")
	if err != nil {
		return err
	}
	tail, err := tailLines(cmd.String("tail"))
	if err != nil {
		return err
	}
	since, err := parseSince(cmd.String("since"), time.Now())
	if err != nil {
		return err
	}
	log, err := os.Open(c.Path("log"))
	if err != nil {
		return fmt.Errorf("container %s has no log: only detached containers (-d) keep one", c.Name())
	}
	defer log.Close()
	if tail >= 0 {
		if err := seekLastLines(log, tail); err != nil {
			return err
		}
	}
	offset, err := log.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	p := &logPrinter{w: bufio.NewWriter(os.Stdout), c: c, stamp: cmd.Bool("timestamps"), since: since, offset: offset}
	defer p.w.Flush()
	for {
		p.copy(log)
		if !cmd.Bool("follow") || c.Reload() != nil || (c.Status() != container.Running && c.Status() != container.Restarting) {
			p.copy(log)
			p.end()
			return nil
		}
		p.w.Flush()
		time.Sleep(100 * time.Millisecond)
	}
}

// logPrinter prints a container's log from an offset on, whole lines at
// a time when it stamps them or keeps those since a time, as is when not.
type logPrinter struct {
	w       *bufio.Writer
	c       *container.Container
	stamp   bool
	since   time.Time
	offset  int64  // of the start of pending in the log
	pending []byte // a line not ended yet
}

func (p *logPrinter) copy(log *os.File) {
	if !p.stamp && p.since.IsZero() {
		io.Copy(p.w, log)
		return
	}
	data, _ := io.ReadAll(log)
	if len(data) == 0 {
		return
	}
	times := lifecycle.ReadLogTimes(p.c)
	buf := append(p.pending, data...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		p.print(buf[:i+1], times.At(p.offset+int64(i)+1))
		p.offset += int64(i) + 1
		buf = buf[i+1:]
	}
	p.pending = buf
}

// end prints a last line that has no newline.
func (p *logPrinter) end() {
	if len(p.pending) > 0 {
		p.print(append(p.pending, '\n'), lifecycle.ReadLogTimes(p.c).At(p.offset+int64(len(p.pending))))
	}
}

func (p *logPrinter) print(line []byte, at time.Time) {
	if !p.since.IsZero() && at.Before(p.since) {
		return
	}
	if p.stamp {
		p.w.WriteString(at.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") + " ")
	}
	p.w.Write(line)
}

// parseSince reads --since as Docker does: a duration back from now, an
// RFC 3339 time (local without a zone, or a date alone), or Unix seconds.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if secs, frac, _ := strings.Cut(s, "."); len(frac) <= 9 { // seconds, and a fraction (not through a float)
		sec, err1 := strconv.ParseInt(secs, 10, 64)
		nsec, err2 := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		if err1 == nil && err2 == nil {
			return time.Unix(sec, nsec), nil
		}
	}
	return time.Time{}, &exit.Error{Code: exit.Runtime, Msg: fmt.Sprintf("--since %q: want a duration (10m), an RFC 3339 time or a Unix timestamp", s)}
}

// tailLines reads --tail: a number of lines, or "all" (-1).
func tailLines(s string) (int, error) {
	if s == "all" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, &exit.Error{Code: exit.Runtime, Msg: fmt.Sprintf("--tail %q: want a number of lines, or all", s)}
	}
	return n, nil
}

// seekLastLines moves f to the start of its last n lines, reading it
// backwards a block at a time; a last line without its newline counts.
func seekLastLines(f *os.File, n int) error {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	newlines, pos := 0, end
	for pos > 0 {
		size := min(int64(len(buf)), pos)
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil {
			return err
		}
		for i := size - 1; i >= 0; i-- {
			if buf[i] != '\n' || pos+i == end-1 {
				continue // the last byte's newline ends the last line, it starts none
			}
			if newlines++; newlines == n {
				_, err := f.Seek(pos+i+1, io.SeekStart)
				return err
			}
		}
	}
	if n == 0 {
		_, err := f.Seek(end, io.SeekStart)
		return err
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}
