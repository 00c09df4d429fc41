//go:build race

package route

// raceEnabled: sync.Pool drops entries under -race, so regexp allocates.
const raceEnabled = true
