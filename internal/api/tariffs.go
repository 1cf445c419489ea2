package api

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/tariff"
)

// Tariffs (电价) through the API: admins load versions (checked whole,
// audited, never replaced); anyone logged in lists them and asks for a
// quote, priced by the version in force on the request's day.
func (s *Server) tariffRoutes() {
	s.handle("POST /api/v1/tariffs", amigo.RoleAdmin, s.createTariff)
	s.handle("GET /api/v1/tariffs", amigo.RoleViewer, s.listTariffs)
	s.handle("POST /api/v1/tariffs/{name}/quote", amigo.RoleViewer, s.quoteTariff)
}

// readLimited reads a body of at most max bytes.
func readLimited(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var big *http.MaxBytesError
		if errors.As(err, &big) {
			return nil, amigo.Errorf(amigo.EINVALID, "decode", "request body larger than %d bytes / 请求体超过%d字节", max, max)
		}
		return nil, amigo.Errorf(amigo.EINVALID, "decode", "request body could not be read / 无法读取请求体")
	}
	return b, nil
}

// tariffView is a stored version as listed.
type tariffView struct {
	Name      string          `json:"name"`
	ValidFrom string          `json:"valid_from"`
	Version   string          `json:"version"`
	Summary   string          `json:"summary"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
	Document  json.RawMessage `json:"document"`
}

func viewOf(v amigo.TariffVersion, t *tariff.Tariff) tariffView {
	out := tariffView{Name: v.Name, ValidFrom: v.ValidFrom, Version: v.Name + "@" + v.ValidFrom, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy, Document: v.Document}
	if t != nil {
		out.Summary = t.Summary()
	}
	if !json.Valid(out.Document) {
		out.Document = json.RawMessage("null")
	}
	return out
}

// createTariff stores a new version: the body is the tariff document.
func (s *Server) createTariff(w http.ResponseWriter, r *http.Request, p principal) {
	doc, err := readLimited(w, r, tariff.MaxDocument)
	if err != nil {
		writeErr(w, err)
		return
	}
	t, err := tariff.Parse(doc)
	if err != nil {
		writeErr(w, err)
		return
	}
	v := amigo.TariffVersion{Name: t.Name, ValidFrom: t.ValidFrom.String(), Document: doc, CreatedAt: s.now(), CreatedBy: p.User}
	err = s.store.WithTx(r.Context(), func(tx amigo.Store) error {
		if err := tx.PutTariff(r.Context(), v); err != nil {
			return err
		}
		return tx.AppendAudit(r.Context(), amigo.AuditEntry{Time: v.CreatedAt, Actor: p.User, Action: "tariff.create", Object: "tariff " + t.Version(), Detail: t.Summary()})
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, viewOf(v, t))
}

// listTariffs lists the stored versions (?name= for one tariff).
func (s *Server) listTariffs(w http.ResponseWriter, r *http.Request, p principal) {
	vs, err := s.store.ListTariffs(r.Context(), r.URL.Query().Get("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	items := make([]tariffView, 0, len(vs))
	for _, v := range vs {
		t, _ := tariff.Parse(v.Document)
		items = append(items, viewOf(v, t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

// quoteTariff prices a request (tariff.Request) with the version of the
// tariff in force on its date (today in the tariff's zone when absent).
func (s *Server) quoteTariff(w http.ResponseWriter, r *http.Request, p principal) {
	b, err := readLimited(w, r, tariff.MaxRequest)
	if err != nil {
		writeErr(w, err)
		return
	}
	req, err := tariff.DecodeRequest(b)
	if err != nil {
		writeErr(w, err)
		return
	}
	name := r.PathValue("name")
	vs, err := s.store.ListTariffs(r.Context(), name)
	if err != nil {
		writeErr(w, err)
		return
	}
	var set tariff.Set
	var latest *tariff.Tariff
	for _, v := range vs {
		t, err := tariff.Parse(v.Document)
		if err != nil {
			writeErr(w, &amigo.Error{Kind: amigo.EINTERNAL, Op: "quote", Err: err})
			return
		}
		if err := set.Add(t); err != nil {
			writeErr(w, &amigo.Error{Kind: amigo.EINTERNAL, Op: "quote", Err: err})
			return
		}
		latest = t
	}
	if latest == nil {
		writeErr(w, amigo.Errorf(amigo.ENOTFOUND, "quote", "no tariff %q / 无此电价", name))
		return
	}
	if req.Date == "" {
		req.Date = tariff.DateOf(s.now(), latest.Location).String()
	}
	d, err := tariff.ParseDate(req.Date)
	if err != nil {
		writeErr(w, amigo.Errorf(amigo.EINVALID, "quote", "date: %v", err))
		return
	}
	t, err := set.At(name, d)
	if err != nil {
		writeErr(w, err)
		return
	}
	q, err := t.QuoteRequest(req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}
