package lifecycle

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	var b backoff
	ms := time.Millisecond
	for i, want := range []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms} {
		if got := b.next(ms); got != want {
			t.Errorf("restart %d after a short run: delay %v, want %v", i+1, got, want)
		}
	}
	if got := b.next(10 * time.Second); got != 100*ms {
		t.Errorf("after a run of 10 s: delay %v, want the first delay again, 100ms", got)
	}
	for range 20 {
		b.next(0)
	}
	if got := b.next(0); got != time.Minute {
		t.Errorf("after many quick failures: delay %v, want the cap, 1m", got)
	}
}
