package main

import (
	"net/http"

	"github.com/amigo-metering/amigo/internal/fep"
)

// withFrontMetrics appends the front end's counters (refusals, open
// connections, dropped GPRS replies, duplicate registrations) to a
// successful GET /metrics answered by h, under whatever access rule h
// applies to it.
func withFrontMetrics(h http.Handler, front *fep.FEP) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/metrics" {
			h.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 || sw.status == http.StatusOK {
			front.WriteMetrics(w)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
