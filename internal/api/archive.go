package api

import (
	"net/http"
	"strconv"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/archive"
)

// The archive (档案) through the API: create (POST), read (GET), change
// (PATCH, only the fields given) and retire (DELETE: the row stays for
// history and leaves the working lists) sites, areas, collectors, meters
// and users; CSV import and export of each. Operators change the archive;
// users, and every export (it carries secrets), are for admins.
func (s *Server) archiveRoutes() {
	op, admin, view := amigo.RoleOperator, amigo.RoleAdmin, amigo.RoleViewer
	s.handle("POST /api/v1/sites", op, s.createSite)
	s.handle("GET /api/v1/sites", view, s.listSites)
	s.handle("GET /api/v1/sites/{site}", view, s.getSite)
	s.handle("PATCH /api/v1/sites/{site}", op, s.patchSite)
	s.handle("DELETE /api/v1/sites/{site}", op, s.retireSite)
	s.handle("POST /api/v1/areas", op, s.createArea)
	s.handle("GET /api/v1/areas/{id}", view, s.getArea)
	s.handle("PATCH /api/v1/areas/{id}", op, s.patchArea)
	s.handle("DELETE /api/v1/areas/{id}", op, s.retireArea)
	s.handle("POST /api/v1/collectors", op, s.createCollector)
	s.handle("GET /api/v1/collectors/{address}", view, s.getCollector)
	s.handle("PATCH /api/v1/collectors/{address}", op, s.patchCollector)
	s.handle("DELETE /api/v1/collectors/{address}", op, s.retireCollector)
	s.handle("POST /api/v1/meters", op, s.createMeter)
	s.handle("PATCH /api/v1/meters/{address}", op, s.patchMeter)
	s.handle("DELETE /api/v1/meters/{address}", op, s.retireMeter)
	s.handle("POST /api/v1/meters/{address}/replace", op, s.replaceMeter)
	s.handle("POST /api/v1/users", admin, s.createUser)
	s.handle("GET /api/v1/users", admin, s.listUsers)
	s.handle("GET /api/v1/users/{username}", admin, s.getUser)
	s.handle("PATCH /api/v1/users/{username}", admin, s.patchUser)
	s.handle("DELETE /api/v1/users/{username}", admin, s.retireUser)
	s.handle("POST /api/v1/import/{kind}", op, s.importKind)
	s.handle("POST /api/v1/meters/import", op, func(w http.ResponseWriter, r *http.Request, p principal) { s.importCSV(w, r, p, archive.KindMeters) })
	s.handle("GET /api/v1/export/{kind}", admin, s.exportKind)
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, amigo.Errorf(amigo.EINVALID, "path", "%s must be a positive number / %s 应为正整数", name, name)
	}
	return id, nil
}

func retired(r *http.Request) bool { return r.URL.Query().Get("retired") == "true" }

// reply writes v with code, or err.
func reply[T any](w http.ResponseWriter, code int, v T, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, code, v)
}

func list[T any](w http.ResponseWriter, items []T, err error) {
	if items == nil {
		items = []T{}
	}
	reply(w, http.StatusOK, map[string]any{"items": items, "total": len(items)}, err)
}

// body decodes the request into a new T, writing the error when it fails.
func body[T any](w http.ResponseWriter, r *http.Request) (T, bool) {
	var in T
	if err := decodeStrict(w, r, &in); err != nil {
		writeErr(w, err)
		return in, false
	}
	return in, true
}

func (s *Server) createSite(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.SiteInput](w, r); ok {
		x, err := s.arch.CreateSite(r.Context(), p.User, in)
		reply(w, http.StatusCreated, x, err)
	}
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request, _ principal) {
	xs, err := s.store.ListSitesBy(r.Context(), amigo.ArchiveFilter{IncludeRetired: retired(r)})
	list(w, xs, err)
}

func (s *Server) getSite(w http.ResponseWriter, r *http.Request, _ principal) {
	x, err := s.arch.Site(r.Context(), r.PathValue("site"))
	reply(w, http.StatusOK, x, err)
}

func (s *Server) patchSite(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.SiteInput](w, r); ok {
		x, err := s.arch.UpdateSite(r.Context(), p.User, r.PathValue("site"), in)
		reply(w, http.StatusOK, x, err)
	}
}

func (s *Server) retireSite(w http.ResponseWriter, r *http.Request, p principal) {
	err := s.arch.RetireSite(r.Context(), p.User, r.PathValue("site"))
	reply(w, http.StatusOK, map[string]string{"retired": r.PathValue("site")}, err)
}

func (s *Server) createArea(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.AreaInput](w, r); ok {
		a, err := s.arch.CreateArea(r.Context(), p.User, in)
		reply(w, http.StatusCreated, a, err)
	}
}

func (s *Server) getArea(w http.ResponseWriter, r *http.Request, _ principal) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return
	}
	a, err := s.store.GetArea(r.Context(), id)
	reply(w, http.StatusOK, a, err)
}

func (s *Server) patchArea(w http.ResponseWriter, r *http.Request, p principal) {
	id, err := pathID(r, "id")
	if err != nil {
		writeErr(w, err)
		return
	}
	if in, ok := body[archive.AreaInput](w, r); ok {
		a, err := s.arch.UpdateArea(r.Context(), p.User, id, in)
		reply(w, http.StatusOK, a, err)
	}
}

func (s *Server) retireArea(w http.ResponseWriter, r *http.Request, p principal) {
	id, err := pathID(r, "id")
	if err == nil {
		err = s.arch.RetireArea(r.Context(), p.User, id)
	}
	reply(w, http.StatusOK, map[string]int64{"retired": id}, err)
}

func (s *Server) createCollector(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.CollectorInput](w, r); ok {
		c, err := s.arch.CreateCollector(r.Context(), p.User, in)
		reply(w, http.StatusCreated, c, err)
	}
}

func (s *Server) getCollector(w http.ResponseWriter, r *http.Request, _ principal) {
	c, err := s.arch.Collector(r.Context(), r.PathValue("address"))
	reply(w, http.StatusOK, c, err)
}

func (s *Server) patchCollector(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.CollectorInput](w, r); ok {
		c, err := s.arch.UpdateCollector(r.Context(), p.User, r.PathValue("address"), in)
		reply(w, http.StatusOK, c, err)
	}
}

func (s *Server) retireCollector(w http.ResponseWriter, r *http.Request, p principal) {
	err := s.arch.RetireCollector(r.Context(), p.User, r.PathValue("address"))
	reply(w, http.StatusOK, map[string]string{"retired": r.PathValue("address")}, err)
}

func (s *Server) createMeter(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.MeterInput](w, r); ok {
		m, err := s.arch.CreateMeter(r.Context(), p.User, in)
		if err == nil {
			s.archiveChanged(m.CollectorID)
		}
		reply(w, http.StatusCreated, m, err)
	}
}

func (s *Server) patchMeter(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.MeterInput](w, r); ok {
		m, err := s.arch.UpdateMeter(r.Context(), p.User, r.PathValue("address"), in)
		if err == nil {
			s.archiveChanged(0) // it may have moved from another collector
		}
		reply(w, http.StatusOK, m, err)
	}
}

func (s *Server) retireMeter(w http.ResponseWriter, r *http.Request, p principal) {
	err := s.arch.RetireMeter(r.Context(), p.User, r.PathValue("address"))
	if err == nil {
		s.archiveChanged(0)
	}
	reply(w, http.StatusOK, map[string]string{"retired": r.PathValue("address")}, err)
}

func (s *Server) replaceMeter(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.ReplaceInput](w, r); ok {
		old, repl, err := s.arch.ReplaceMeter(r.Context(), p.User, r.PathValue("address"), in)
		if err == nil {
			s.archiveChanged(old.CollectorID, repl.CollectorID)
		}
		reply(w, http.StatusCreated, map[string]amigo.Meter{"old": old, "new": repl}, err)
	}
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.UserInput](w, r); ok {
		u, err := s.arch.CreateUser(r.Context(), p.User, in)
		reply(w, http.StatusCreated, u, err)
	}
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, _ principal) {
	us, err := s.store.ListUsers(r.Context(), amigo.ArchiveFilter{IncludeRetired: retired(r)})
	list(w, us, err)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, _ principal) {
	u, err := s.arch.User(r.Context(), r.PathValue("username"))
	reply(w, http.StatusOK, u, err)
}

func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, p principal) {
	if in, ok := body[archive.UserInput](w, r); ok {
		u, err := s.arch.UpdateUser(r.Context(), p.User, r.PathValue("username"), in)
		reply(w, http.StatusOK, u, err)
	}
}

func (s *Server) retireUser(w http.ResponseWriter, r *http.Request, p principal) {
	err := s.arch.RetireUser(r.Context(), p.User, r.PathValue("username"))
	reply(w, http.StatusOK, map[string]string{"retired": r.PathValue("username")}, err)
}

// logout ends every token of the caller (on every device).
func (s *Server) logout(w http.ResponseWriter, r *http.Request, p principal) {
	err := s.arch.Logout(r.Context(), p.ID, p.User)
	reply(w, http.StatusOK, map[string]string{"status": "logged out / 已退出"}, err)
}

func (s *Server) importKind(w http.ResponseWriter, r *http.Request, p principal) {
	s.importCSV(w, r, p, r.PathValue("kind"))
}

// importCSV imports the request body (CSV, at most archive.MaxImportBytes)
// in one transaction: 201 {"kind","created"}, or an error naming the bad
// line with nothing kept.
func (s *Server) importCSV(w http.ResponseWriter, r *http.Request, p principal, kind string) {
	if err := archive.CheckKind(kind); err != nil {
		writeErr(w, err)
		return
	}
	if kind == archive.KindUsers && p.Role != amigo.RoleAdmin {
		writeErr(w, amigo.Errorf(amigo.EFORBIDDEN, "import", "only an admin imports users / 仅管理员可导入用户"))
		return
	}
	res, err := s.arch.Import(r.Context(), p.User, kind, r.Body)
	if err == nil && kind == archive.KindMeters {
		s.archiveChanged(0)
	}
	reply(w, http.StatusCreated, res, err)
}

// exportKind writes the in-service rows of a kind as CSV (with secrets:
// admins only).
func (s *Server) exportKind(w http.ResponseWriter, r *http.Request, p principal) {
	kind := r.PathValue("kind")
	if err := archive.CheckKind(kind); err != nil {
		writeErr(w, err)
		return
	}
	var buf bytesBuffer
	if err := s.arch.Export(r.Context(), kind, &buf); err != nil {
		writeErr(w, err)
		return
	}
	s.store.AppendAudit(r.Context(), amigo.AuditEntry{Time: s.now(), Actor: p.User, Action: "export." + kind, Object: kind})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+kind+`.csv"`)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.b)
}

// bytesBuffer collects an export so that an error can still be a JSON
// error response.
type bytesBuffer struct{ b []byte }

func (b *bytesBuffer) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }
