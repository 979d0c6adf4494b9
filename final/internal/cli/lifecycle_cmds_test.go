package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestSendUntilDetach(t *testing.T) {
	tests := []struct {
		in, sent string
		detached bool
	}{
		{"echo hi\n", "echo hi\n", false},
		{"ab\x10\x11cd", "ab", true},
		{"\x10x\x10\x11", "\x10x", true},   // a lone ctrl-p goes on with the next key
		{"\x10\x10\x11rest", "\x10", true}, // the second ctrl-p starts the sequence
		{"a\x11\x10", "a\x11", false},      // ctrl-q alone is a key; a ctrl-p at the end is held
	}
	for _, tt := range tests {
		var out bytes.Buffer
		detached := sendUntilDetach(&out, strings.NewReader(tt.in))
		if out.String() != tt.sent || detached != tt.detached {
			t.Errorf("%q: sent %q, detached %v; want %q, %v", tt.in, out.String(), detached, tt.sent, tt.detached)
		}
	}
}
