package loadtest

import (
	"net"
	"runtime"
)

// Source addresses. A real fleet dials from as many addresses as it has
// collectors; the load generator dials from one machine. From one address
// to one station port Linux picks each connection's ephemeral port among
// those free for that pair, and once half the range is taken
// (ip_local_port_range, 28,232 ports by default: past about 14,000
// connections) every connect() scans the taken half first — measured here
// at 0.75 ms of CPU per connection instead of 25 µs, paid by the load
// generator on the cores it shares with the station in a reconnect storm.
// So towards a station on a loopback address (on Linux, where all of
// 127.0.0.0/8 is the loopback), the virtual collectors and meters dial from
// sourceSpread addresses of their own, 127.0.1.1 and on, each holding few
// ports.

// sourceSpread is how many loopback source addresses are used: 19,000
// connections are about 300 an address.
const sourceSpread = 64

// sourceAddrs returns the local addresses to dial the station at host
// from, or nil to let the system choose.
func sourceAddrs(host string) []*net.TCPAddr {
	ip := net.ParseIP(host)
	if runtime.GOOS != "linux" || ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil
	}
	// The addresses must be bindable here (a loopback without 127/8, or a
	// network namespace without it, keeps the system's choice).
	probe, err := net.Listen("tcp", "127.0.1.1:0")
	if err != nil {
		return nil
	}
	probe.Close()
	out := make([]*net.TCPAddr, sourceSpread)
	for k := range out {
		out[k] = &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+k))}
	}
	return out
}

// source returns the local address of the k-th dialer (nil: any).
func (g *generator) source(k int) net.Addr {
	if len(g.sources) == 0 {
		return nil
	}
	return g.sources[k%len(g.sources)]
}
