//go:build race

package traceid

// raceEnabled: the race detector makes crypto/rand allocate, so New's
// allocation count is only checked without it.
const raceEnabled = true
