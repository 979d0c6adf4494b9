package cli

import (
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"10m", now.Add(-10 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"2026-12-05T09:00:00Z", time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)},
		{"2026-12-05T09:00:00.5+01:00", time.Date(2026, 12, 5, 8, 0, 0, 5e8, time.UTC)},
		{"1764925200", time.Unix(1764925200, 0)},
		{"1764925200.25", time.Unix(1764925200, 25e7)},
		{"", time.Time{}},
	} {
		got, err := parseSince(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseSince("yesterday", now); err == nil {
		t.Error("parseSince(yesterday) worked")
	}
}
