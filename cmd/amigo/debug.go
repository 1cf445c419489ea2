package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"
)

// maxDebugSeconds bounds how long one profile or trace may run.
const maxDebugSeconds = 300

// debugHandler serves Go's profiles (net/http/pprof under /debug/pprof/)
// to an administrator only: every request needs "Authorization: Bearer
// <token>" of a user whose role is admin, checked by who (the API's own
// token check). The profiles name the station's hottest functions under
// load (docs/benchmarks.md) without a restart; they stay off the API's
// listener, so that the API's port can face the network while this one
// listens on loopback.
func debugHandler(who func(ctx context.Context, token string) (id int64, username, role string, err error)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="amigo debug"`)
			http.Error(w, "an administrator's token is needed / 需要管理员令牌", http.StatusUnauthorized)
			return
		}
		_, _, role, err := who(r.Context(), tok)
		if err != nil {
			http.Error(w, "token refused / 令牌无效", http.StatusUnauthorized)
			return
		}
		if role != "admin" {
			http.Error(w, "for administrators only / 仅限管理员", http.StatusForbidden)
			return
		}
		// A CPU profile or trace streams for ?seconds=: bounded, so that
		// no request holds the listener for hours.
		if v := r.URL.Query().Get("seconds"); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > maxDebugSeconds {
				http.Error(w, fmt.Sprintf("seconds: 1 to %d / seconds 须在 1 到 %d 之间", maxDebugSeconds, maxDebugSeconds), http.StatusBadRequest)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// serveDebug listens on addr and serves debugHandler until ctx ends.
func serveDebug(ctx context.Context, addr string, h http.Handler) (net.Addr, func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, &listenError{"debug_listen", addr, err}
	}
	// No write timeout: a CPU profile or trace streams for its ?seconds=.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l) }()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-done
	}
	return l.Addr(), stop, nil
}
