package lifecycle

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"skiff/internal/container"
)

// A detached container writes its output straight into its log file:
// no process copies it, so a monitor that dies takes nothing of the
// container's with it. The file has no timestamps, then; the monitor
// keeps them beside it, in log.times: each time the log grows, a line
// "SIZE UNIXNANO", the time the monitor saw its bytes (inotify tells it
// within a millisecond or so), as Docker's daemon stamps a line when it
// reads it. A line of the log was written at the first time recorded at
// or past its end (LogTimes.At).
const logTimesFile = "log.times"

// watchLog records, until stop is called, the times at which the log
// grows. It does nothing (and says so on the log) if inotify fails.
func watchLog(c *container.Container, log *os.File) (stop func()) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err == nil {
		_, err = unix.InotifyAddWatch(fd, c.Path("log"), unix.IN_MODIFY)
	}
	times, err2 := os.OpenFile(c.Path(logTimesFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil || err2 != nil {
		fmt.Fprintf(log, "skiff: no timestamps for this log: %v\n", firstError(err, err2))
		if fd >= 0 {
			unix.Close(fd)
		}
		return func() {}
	}
	events := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close ends a Read
	var last int64
	record := func() {
		var st unix.Stat_t
		if unix.Fstat(int(log.Fd()), &st) == nil && st.Size > last {
			last = st.Size
			fmt.Fprintf(times, "%d %d\n", st.Size, time.Now().UnixNano())
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			if _, err := events.Read(buf); err != nil {
				return
			}
			record()
		}
	}()
	return func() {
		events.Close()
		<-done
		record() // what came since the last event
		times.Close()
	}
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// LogTimes are the times a container's log grew, by size.
type LogTimes struct {
	sizes []int64
	times []time.Time
	end   time.Time // the log's last change: the time of what no line records
}

// ReadLogTimes reads a container's log.times; a container without one
// (an older skiff's) has every line stamped with the log's last change.
func ReadLogTimes(c *container.Container) LogTimes {
	var lt LogTimes
	if st, err := os.Stat(c.Path("log")); err == nil {
		lt.end = st.ModTime()
	}
	f, err := os.Open(c.Path(logTimesFile))
	if err != nil {
		return lt
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		size, nanos, ok := strings.Cut(sc.Text(), " ")
		s, err1 := strconv.ParseInt(size, 10, 64)
		n, err2 := strconv.ParseInt(nanos, 10, 64)
		if !ok || err1 != nil || err2 != nil || len(lt.sizes) > 0 && s <= lt.sizes[len(lt.sizes)-1] {
			continue // a line cut short by a kill, or out of order: skip it
		}
		lt.sizes, lt.times = append(lt.sizes, s), append(lt.times, time.Unix(0, n))
	}
	return lt
}

// At is when the byte before offset end was written: the first time
// recorded at or past it.
func (lt LogTimes) At(end int64) time.Time {
	i := sort.Search(len(lt.sizes), func(i int) bool { return lt.sizes[i] >= end })
	if i < len(lt.sizes) {
		return lt.times[i]
	}
	return lt.end
}
