package api

import (
	"encoding/json"
	"io"
)

func jsonDecoder(r io.Reader) *json.Decoder {
	d := json.NewDecoder(r)
	d.DisallowUnknownFields()
	return d
}

// openapi is the API's OpenAPI 3.1 document.
var openapi = func() []byte {
	op := func(summary string, params ...string) map[string]any {
		o := map[string]any{"summary": summary, "responses": map[string]any{"200": map[string]any{"description": "OK"}, "default": map[string]any{"description": "error: {\"error\":{\"code\",\"message\"}}"}}}
		var ps []map[string]any
		for _, p := range params {
			in := "query"
			if p == "address" || p == "id" {
				in = "path"
			}
			ps = append(ps, map[string]any{"name": p, "in": in, "required": in == "path", "schema": map[string]string{"type": "string"}})
		}
		if ps != nil {
			o["parameters"] = ps
		}
		return o
	}
	doc := map[string]any{
		"openapi":    "3.1.0",
		"info":       map[string]any{"title": "amigo master station API / 主站接口", "version": "1"},
		"components": map[string]any{"securitySchemes": map[string]any{"bearer": map[string]string{"type": "http", "scheme": "bearer"}}},
		"security":   []map[string]any{{"bearer": []string{}}},
		"paths": map[string]any{
			"/api/v1/login":                        map[string]any{"post": op("log in: {\"username\",\"password\"} -> {\"token\"}")},
			"/api/v1/meters":                       map[string]any{"get": op("list meters: {items, total}; each with address, status, relay, collector, area, last_reading", "site", "area", "collector", "status", "limit", "offset")},
			"/api/v1/meters/import":                map[string]any{"post": op("import meters from CSV (address,site,area,collector,port,pn,phases,ct,pt,password,direct)")},
			"/api/v1/meters/{address}":             map[string]any{"get": op("one meter", "address")},
			"/api/v1/meters/{address}/readings":    map[string]any{"get": op("readings; energies in kWh as decimal strings", "address", "kind", "from", "to")},
			"/api/v1/meters/{address}/consumption": map[string]any{"get": op("consumption per day or month (site zone), primary side (register advance × CT × PT), total, tariffs T1–T4 and reverse; gaps and reversals are null; at most 366 days or 120 months", "address", "interval", "from", "to")},
			"/api/v1/meters/{address}/commands":    map[string]any{"post": op("{\"type\": disconnect|reconnect|read|time-sync} -> {id, status}", "address")},
			"/api/v1/commands/{id}":                map[string]any{"get": op("a command: pending, sent, succeeded, failed (with reason), expired", "id")},
			"/api/v1/collectors":                   map[string]any{"get": op("collectors with status", "site")},
			"/api/v1/areas":                        map[string]any{"get": op("areas with the line loss of a day", "site", "day")},
			"/api/v1/events":                       map[string]any{"get": op("events, newest first", "kind", "meter", "collector", "limit", "offset")},
			"/api/v1/success-rates":                map[string]any{"get": op("reading success rate of a day per site, area and collector", "day")},
		},
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}()
