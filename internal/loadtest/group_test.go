package loadtest

import "testing"

// With three stations collector i dials station i mod 3 first, then the
// next ones in turn, and the fleet starts evenly spread.
func TestStationIndex(t *testing.T) {
	g := &generator{nodes: make([]Addrs, 3)}
	for i, want := range [][]int{{0, 1, 2, 0}, {1, 2, 0, 1}, {2, 0, 1, 2}, {0, 1, 2, 0}} {
		for attempt, w := range want {
			if got := g.stationIndex(i, attempt); got != w {
				t.Errorf("collector %d, attempt %d: station %d, want %d", i, attempt, got, w)
			}
		}
	}
	one := &generator{nodes: make([]Addrs, 1)}
	for attempt := range 5 {
		if got := one.stationIndex(7, attempt); got != 0 {
			t.Fatalf("one station: attempt %d dials station %d", attempt, got)
		}
	}
}

// Every round of n commands reaches every station once; and when the
// meters' collectors are spread as the commands are (command k's collector
// on station k mod n), only every n-th round goes to the holding station.
func TestCommandStation(t *testing.T) {
	const n = 3
	for round := range 4 {
		seen := map[int]bool{}
		for k := round * n; k < (round+1)*n; k++ {
			seen[commandStation(k, n)] = true
		}
		if len(seen) != n {
			t.Errorf("round %d reaches stations %v, want all %d", round, seen, n)
		}
	}
	holder := 0
	for k := range 9 * n {
		if commandStation(k, n) == k%n {
			holder++
		}
	}
	if holder != 9 {
		t.Errorf("%d of %d commands posted to the holding station, want 9", holder, 9*n)
	}
	if commandStation(5, 1) != 0 {
		t.Errorf("one station: command posted to station %d", commandStation(5, 1))
	}
}

// collectorOf finds a meter's collector from the collectors' ranges.
func TestCollectorOf(t *testing.T) {
	g := &generator{}
	for _, r := range [][2]int{{0, 10}, {10, 10}, {20, 9}} {
		g.cols = append(g.cols, &vcollector{first: r[0], n: r[1]})
	}
	for i, want := range map[int]int{0: 0, 9: 0, 10: 1, 19: 1, 20: 2, 28: 2} {
		if got := g.collectorOf(i); got != g.cols[want] {
			t.Errorf("meter %d: collector at %d, want %d", i, got.first, g.cols[want].first)
		}
	}
}
