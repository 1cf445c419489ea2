//go:build unix && race

package e2e

// raceEnabled: the test binary was built with -race, so the programs it
// runs are too.
const raceEnabled = true
