// Package randid makes the random names skiff gives what the user did not
// name: container IDs and anonymous volumes, 64 hex digits as in Docker.
package randid

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns 32 random bytes as 64 hex digits. crypto/rand does not fail
// on Linux (getrandom(2) blocks until the pool is ready), so neither does it.
func New() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
