package api

import (
	"encoding/json"
	"regexp"
	"strings"
)

// doc describes one route of the OpenAPI document: its summary and its
// query parameters (path parameters come from the pattern).
type doc struct {
	summary string
	query   []string
}

// documented is every route the server answers, keyed by its mux pattern;
// TestOpenAPIListsEveryRoute fails when it and the mux differ.
var documented = map[string]doc{
	"GET /healthz":                             {summary: "health: the store answers -> {\"status\":\"ok\"} (no token)"},
	"GET /metrics":                             {summary: "Prometheus metrics (text format); Authorization: Bearer <metrics_token> when the station sets one, else open"},
	"GET /api/v1/openapi.json":                 {summary: "this document (no token)"},
	"POST /api/v1/login":                       {summary: "log in: {\"username\",\"password\"} -> {\"token\",\"role\"} (no token); 429 too_many_attempts after 5 failures from one address in 15 minutes; an account with failures is slowed (checks 1 s … 16 s apart), never locked"},
	"POST /api/v1/logout":                      {summary: "end every token of the caller at once"},
	"GET /api/v1/meters":                       {summary: "list meters in service (retired=true adds removed ones; limit 1..1000, default 100): {items, total}; each with address, status, relay, collector, area, last_reading", query: []string{"site", "area", "collector", "status", "retired", "limit", "offset"}},
	"POST /api/v1/meters":                      {summary: "create a meter (operator): {\"address\",\"site\",\"area\",\"collector\",\"port\",\"pn\",\"phases\",\"rated_amps\",\"ct\",\"pt\",\"password\",\"direct\",\"imei\",\"reg_secret\",\"protocol\",\"account\",\"installed_at\",\"supply\"}; site by name or id, area by name, collector by address"},
	"POST /api/v1/meters/import":               {summary: "import meters from CSV (operator; the same as POST /api/v1/import/meters): all rows or none, the bad line named"},
	"GET /api/v1/meters/{address}":             {summary: "one meter (the one in service at the address, else the last removed)"},
	"PATCH /api/v1/meters/{address}":           {summary: "change a meter (operator): the fields of POST /api/v1/meters that are given, but the address"},
	"DELETE /api/v1/meters/{address}":          {summary: "retire a meter (operator): removed now, kept for history, no longer read"},
	"POST /api/v1/meters/{address}/replace":    {summary: "swap a meter (operator): {\"new_address\",\"removal_kwh\",\"installation_kwh\",\"at\",\"reason\"} (+ optional protocol, phases, rated_amps, ct, pt, password, imei, reg_secret of the new meter) -> {\"old\",\"new\"}; the account's consumption stays continuous"},
	"GET /api/v1/meters/{address}/readings":    {summary: "readings; energies in kWh as decimal strings; from before to, at most 92 days apart (default the last 31 days)", query: []string{"kind", "from", "to"}},
	"GET /api/v1/meters/{address}/consumption": {summary: "consumption per day or month (site zone), primary side (register advance × CT × PT), total, tariffs T1–T4 and reverse; gaps and reversals are null; partial months marked; at most 366 days or 120 months", query: []string{"interval", "from", "to"}},
	"POST /api/v1/meters/{address}/readings":   {summary: "a manual reading (operator): {\"time\",\"forward_active_kwh\",\"reason\"}; time between the meter's installation (and removal) and now + 5 min"},
	"POST /api/v1/meters/{address}/commands":   {summary: "{\"type\": disconnect|reconnect|close|alarm|alarm-off|read|time-sync} -> {id, status} (operator); reconnect is 645 allow-close (1BH), close is direct close (1CH), alarm/alarm-off the meter's alarm (2AH/2BH)"},
	"GET /api/v1/accounts/{id}/consumption":    {summary: "an account's consumption across its meters (a swap keeps it continuous)", query: []string{"interval", "from", "to"}},
	"POST /api/v1/accounts/{id}/orders":        {summary: "an online payment order (WeChat Pay native; a customer for their own account, a cashier or above for any): {\"amount_fen\"} -> {order_no, account_id, amount_fen, provider, state: created, code_url (show it as a QR code)}; the order is stored before the provider is asked (docs/payments.md)"},
	"GET /api/v1/accounts/{id}/orders/{no}":    {summary: "an online payment order: state created or paid (with transaction_id, paid_at, credited_at); one still created is asked of the provider, and credited if it is paid there"},
	"POST /api/v1/accounts/{id}/sandbox-pay":   {summary: "the demo's pay (only when the station runs the WeChat Pay sandbox; a customer for their own account, a cashier or above): {\"order_no\"} -> 202; the sandbox pays the order as scanning its code_url would and sends its notification, which credits the account: poll GET /api/v1/accounts/{id}/orders/{no}"},
	"POST /api/v1/payments/wechat/notify":      {summary: "the payment provider's notification (no token: WeChat Pay API v3 signature verified with the platform key, timestamp within 5 minutes, resource decrypted with the API v3 key, at most 64 KiB) -> 204 when credited (once per transaction_id) or already; 4xx/5xx {\"code\":\"FAIL\",\"message\"} otherwise, refusals counted and written as payment.notify_refused events"},
	"GET /api/v1/payments/reconciliation":      {summary: "the day's reconciliation (operator; the day in UTC+8): the provider's paid orders (queried) against the ledger's payments -> {day, orders_queried, provider_paid, provider_fen, ledger_payments, ledger_fen, differences: [{kind paid_not_credited|credited_not_paid|amount_differs, order_no, transaction_id, account_id, provider_fen, ledger_fen, reference}], unanswered}", query: []string{"day"}},
	"GET /api/v1/commands/{id}":                {summary: "a command: pending, sent, succeeded, failed (with reason), expired"},
	"GET /api/v1/collectors":                   {summary: "collectors in service with status (retired=true adds retired ones)", query: []string{"site", "retired"}},
	"POST /api/v1/collectors":                  {summary: "create a collector (operator): {\"site\",\"address\",\"name\",\"plain_tcp\",\"reg_secret\"}; address A1-A2 such as 0171-2082"},
	"GET /api/v1/collectors/{address}":         {summary: "one collector, retired or not"},
	"PATCH /api/v1/collectors/{address}":       {summary: "change a collector (operator): the fields of POST /api/v1/collectors that are given"},
	"DELETE /api/v1/collectors/{address}":      {summary: "retire a collector (operator) once no meter in service is behind it; it is no longer polled"},
	"GET /api/v1/areas":                        {summary: "areas in service with the line loss of a day", query: []string{"site", "day"}},
	"POST /api/v1/areas":                       {summary: "create an area (operator): {\"site\",\"name\",\"supply_meter\",\"loss_low_percent\",\"loss_high_percent\"}"},
	"GET /api/v1/areas/{id}":                   {summary: "one area, retired or not"},
	"PATCH /api/v1/areas/{id}":                 {summary: "change an area (operator): the fields of POST /api/v1/areas that are given"},
	"DELETE /api/v1/areas/{id}":                {summary: "retire an area (operator) once no meter in service is in it"},
	"GET /api/v1/sites":                        {summary: "sites in service (retired=true adds retired ones)", query: []string{"retired"}},
	"POST /api/v1/sites":                       {summary: "create a site (operator): {\"name\",\"time_zone\"} (IANA zone, default Asia/Shanghai)"},
	"GET /api/v1/sites/{site}":                 {summary: "one site by name or id, retired or not"},
	"PATCH /api/v1/sites/{site}":               {summary: "change a site (operator): {\"name\",\"time_zone\"}, either"},
	"DELETE /api/v1/sites/{site}":              {summary: "retire a site (operator) once it has no collector or meter in service"},
	"POST /api/v1/tariffs":                     {summary: "load a tariff version (admin): the body is the tariff document (docs/tariffs.md), checked whole (every problem named by field), audited; a name's version from the same day is a conflict -> {name, valid_from, version, summary, created_at, created_by, document}"},
	"GET /api/v1/tariffs":                      {summary: "tariff versions by name, oldest first: {items: [{name, valid_from, version, summary, created_at, created_by, document}], total}", query: []string{"name"}},
	"POST /api/v1/tariffs/{name}/quote":        {summary: "price usage with the version in force on the date: {\"date\": \"YYYY-MM-DD\" (default today), one of \"usage\": {\"peak\": \"12.34\"}, \"registers\": [T1..T4 kWh], \"total\": \"kWh\"; \"year_to_date\" or \"month_to_date\" for the ladder, \"in_service_days\", \"standing_days\"} -> {tariff, valid_from, total_fen, lines: [{kind energy|tier|standing, name, kwh, price, amount_fen}], ...}; each line rounded half-up to the fen, the total their sum"},
	"GET /api/v1/bills":                        {summary: "bills and credit notes, newest first: {items, total}; each with number, kind bill|credit_note, status issued|held (held: a boundary reading missing or estimated, its flags say which), account, cycle, period, lines (each rounded half-up to the fen), total_fen (their sum), due_date, tariffs (versions used); a customer gets their own account's issued ones only (account may be left out; another account answers 404)", query: []string{"account", "site", "cycle", "status", "limit", "offset"}},
	"GET /api/v1/bills/{id}":                   {summary: "one bill or credit note; a customer only one of their own account, issued (any other answers 404, as do its document and pdf)"},
	"GET /api/v1/bills/{id}/document":          {summary: "what the printed bill shows: account number, customer, period, lines, total, due date, the last 12 cycles' usage, pay_url (the QR code's link)"},
	"GET /api/v1/bills/{id}/pdf":               {summary: "the bill as PDF (A4, Chinese and English labels, embedded CJK font, 12-month usage chart, QR code to pay; a credit note prints as a credit note); 501 not_implemented when the station has no CJK font (font_file)"},
	"POST /api/v1/billing-runs/{id}/print":     {summary: "print a finished billing run's issued bills (operator): queued in one transaction (500 per transaction beyond 500 bills), each once (the job's reference is the bill number: asked again, nothing prints twice) -> 202 {run, bills, print_jobs}; 409 when the station has no printer or the run is still running"},
	"GET /api/v1/payments/{id}/pdf":            {summary: "a payment's receipt as PDF (80 mm roll, Chinese and English): cashiers, operators and admins any, a customer only their own accounts' (another's is 404); 501 when the station has no CJK font (font_file)"},
	"POST /api/v1/payments/{id}/print":         {summary: "print a payment's receipt on the station's printer (cashier, operator, admin) -> 202 {receipt, print_job}; a receipt prints once however often asked; 409 when the station has no printer"},
	"POST /api/v1/bills/{id}/correct":          {summary: "correct an issued bill (operator): {\"reason\"} -> 201 {credit_note, reissue}: a credit note for the whole bill and a reissue computed again from the readings as they are now, with the tariff versions loaded when the bill was issued; both charged to the ledger and audited; the bill itself never changes; 409 when corrected already"},
	"POST /api/v1/billing-runs":                {summary: "start or resume the billing run of a site's cycle (operator): {\"site\": name or id, \"cycle\": \"YYYY-MM\"} -> 202 {id, status, total, done, issued, held, skipped, total_fen, percent}; it goes on after the answer; a run killed or stopped resumes where it stopped, never issuing a bill twice"},
	"GET /api/v1/billing-runs":                 {summary: "the newest billing runs first, each with its percent: {items, total}", query: []string{"site", "limit"}},
	"GET /api/v1/billing-runs/{id}":            {summary: "a billing run's progress: {status running|done, total, done, issued, held, skipped, total_fen, percent}"},
	"GET /api/v1/users":                        {summary: "users (admin; retired=true adds retired ones)", query: []string{"retired"}},
	"POST /api/v1/users":                       {summary: "create a user (admin): {\"username\",\"password\",\"role\"}; role admin|operator|cashier|viewer; password at least 8 characters"},
	"GET /api/v1/users/{username}":             {summary: "one user (admin)"},
	"PATCH /api/v1/users/{username}":           {summary: "change a user's role or password (admin): {\"role\",\"password\"}; a new password ends the user's tokens"},
	"DELETE /api/v1/users/{username}":          {summary: "retire a user (admin): their tokens end at once; the last admin stays"},
	"POST /api/v1/import/{kind}":               {summary: "import CSV of kind sites|collectors|areas|meters|users|customers|accounts (operator; users: admin) in one transaction: all rows or none, the bad line named, audited -> {\"kind\",\"created\"}"},
	"GET /api/v1/export/{kind}":                {summary: "export the in-service rows of kind as CSV with a header row (admin: it carries secrets); imports into an empty station as it is"},
	"POST /api/v1/customers":                   {summary: "create a customer (operator): {\"name\",\"phone\",\"id_number\"}, audited"},
	"GET /api/v1/customers":                    {summary: "customers in id order (limit 1..1000, default 100): {items, total}", query: []string{"limit", "offset"}},
	"GET /api/v1/customers/{id}":               {summary: "one customer"},
	"POST /api/v1/accounts":                    {summary: "create an account (operator): {\"number\",\"customer\" (id) or \"customer_name\",\"phone\",\"id_number\" (a new customer),\"site\",\"mode\": prepaid|postpaid,\"tariff\",\"billing_day\" (1..28),\"low_balance_fen\",\"credit_limit_fen\",\"keep_power\",\"meters\": [{\"address\",\"from\"}],\"opening_balance_fen\"}, audited -> the account"},
	"GET /api/v1/accounts":                     {summary: "accounts (limit 1..1000, default 100): {items, total}; each with id, number, mode, balance_fen (prepaid), control (prepaid: none|warned|tripped), supply on|off|unknown from its meters' relays, meters by address; number= finds one", query: []string{"mode", "site", "customer", "number", "limit", "offset"}},
	"GET /api/v1/accounts/{id}":                {summary: "one account: id, number, mode, balance_fen (prepaid), control, supply on|off|unknown, meters by address with from/to and relay"},
	"PATCH /api/v1/accounts/{id}":              {summary: "change an account (operator): the fields of POST /api/v1/accounts that are given (not opening_balance_fen), \"add_meter\": {\"address\",\"from\"}, \"end_meter\": {\"address\",\"at\"} (a move-out or swap), audited"},
	"GET /api/v1/accounts/{id}/ledger":         {summary: "the account's ledger, newest first: {account, balance_fen, items: [{id, time, kind daily|payment|refund|adjustment|bill, amount_fen, balance_fen (after), reference, by, detail}], total}; the balance is the sum of the entries", query: []string{"limit", "offset"}},
	"POST /api/v1/accounts/{id}/payments":      {summary: "a desk payment (cashier or admin): {\"amount_fen\": N, \"method\": cash|card, \"reference\", \"print\": true sends the receipt to the printer (409 before any money is taken when the station has none)} -> 201 the receipt {id, receipt, account, customer, amount_fen, method, reference, time, cashier, balance_fen, print_job or print_error}; its PDF is GET /api/v1/payments/{id}/pdf; the same reference again is one payment: 200 with the first receipt and duplicate=true; the same reference for another account or amount is 409"},
	"GET /api/v1/accounts/{id}/payments":       {summary: "the account's payments, oldest first", query: []string{"limit", "offset"}},
	"GET /api/v1/accounts/{id}/notices":        {summary: "notices to the account's customer (low balance, trip, reconnect), newest first", query: []string{"limit", "offset"}},
	"GET /api/v1/payments/{id}":                {summary: "a payment as its receipt: receipt number, account, customer, amount_fen, method, reference, time, cashier, balance_fen after it"},
	"GET /api/v1/sites/{site}/control-policy":  {summary: "the site's supply-control policy: keep_power_windows [{from,to} HH:MM], keep_power_weekdays, keep_power_dates (holidays), reconnect allow-close|close"},
	"PUT /api/v1/sites/{site}/control-policy":  {summary: "set the site's supply-control policy (admin): {\"keep_power_windows\": [{\"from\": \"22:00\", \"to\": \"06:00\"}], \"keep_power_weekdays\": [\"sunday\"], \"keep_power_dates\": [\"2026-10-01\"], \"reconnect\": allow-close|close}, audited"},
	"GET /api/v1/events":                       {summary: "events, newest first; limit 1..1000 (default 100)", query: []string{"kind", "meter", "collector", "since", "limit", "offset"}},
	"GET /api/v1/success-rates":                {summary: "reading success rate of a day per site, area and collector", query: []string{"day"}},
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// openapi is the API's OpenAPI 3.1 document, built from documented.
var openapi = func() []byte {
	paths := map[string]map[string]any{}
	for pattern, d := range documented {
		method, path, _ := strings.Cut(pattern, " ")
		o := map[string]any{"summary": d.summary, "responses": map[string]any{
			"200":     map[string]any{"description": "OK (201 for a creation)"},
			"default": map[string]any{"description": "error: {\"error\":{\"code\",\"message\"}}, message in English / 中文; a JSON body is one value of known fields, at most 64 KiB; times in the years 2000..2099"}}}
		var ps []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			ps = append(ps, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		for _, q := range d.query {
			ps = append(ps, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]string{"type": "string"}})
		}
		if ps != nil {
			o["parameters"] = ps
		}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(method)] = o
	}
	doc := map[string]any{
		"openapi":    "3.1.0",
		"info":       map[string]any{"title": "amigo master station API / 主站接口", "version": "1"},
		"components": map[string]any{"securitySchemes": map[string]any{"bearer": map[string]string{"type": "http", "scheme": "bearer"}}},
		"security":   []map[string]any{{"bearer": []string{}}},
		"paths":      paths,
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}()
