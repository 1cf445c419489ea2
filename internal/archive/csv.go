package archive

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Bounds of an import, checked before anything is allocated for the rows.
const (
	MaxImportBytes     = 32 << 20 // 32 MiB
	MaxImportRows      = 200_000
	MaxImportUserRows  = 1000 // each password is hashed (about 50 ms)
	maxImportFieldSize = 1024
)

// columns names each kind's CSV columns (the header row) in export order;
// required ones must be in the header of an import.
var columns = map[string][]struct {
	name     string
	required bool
}{
	KindSites:      {{"name", true}, {"time_zone", false}},
	KindCollectors: {{"site", true}, {"address", true}, {"name", false}, {"plain_tcp", false}, {"reg_secret", false}},
	KindAreas:      {{"site", true}, {"name", true}, {"supply_meter", false}, {"loss_low_percent", false}, {"loss_high_percent", false}},
	KindMeters: {{"address", true}, {"site", true}, {"area", false}, {"collector", false}, {"port", false}, {"pn", false}, {"protocol", false},
		{"phases", false}, {"rated_amps", false}, {"ct", false}, {"pt", false}, {"password", false}, {"direct", false}, {"imei", false},
		{"reg_secret", false}, {"account", false}, {"installed_at", false}, {"supply", false}},
	KindUsers:     {{"username", true}, {"role", true}, {"password", false}, {"password_hash", false}},
	KindCustomers: {{"name", true}, {"phone", false}, {"id_number", false}},
	KindAccounts: {{"number", true}, {"site", true}, {"mode", true}, {"tariff", true}, {"customer", false}, {"customer_name", false}, {"phone", false},
		{"id_number", false}, {"billing_day", false}, {"low_balance_fen", false}, {"credit_limit_fen", false}, {"keep_power", false},
		{"meters", false}, {"from", false}, {"opening_balance_fen", false}},
}

// CheckKind returns an EINVALID error for a kind that is not an archive
// table.
func CheckKind(kind string) error {
	if _, ok := columns[kind]; !ok {
		return invalid("archive", "unknown kind %q: want sites, collectors, areas, meters, users, customers or accounts / 未知档案类型 %q", kind, kind)
	}
	return nil
}

// Row is one decoded CSV row: its line in the file and the input it
// carries (SiteInput, AreaInput, CollectorInput, MeterInput or UserInput).
type Row struct {
	Line  int
	Input any
}

// lineErr names the line of a bad row, keeping the error's kind.
func lineErr(line int, err error) error {
	kind := amigo.ErrorKind(err)
	if kind == amigo.EINTERNAL || kind == amigo.EUNAVAILABLE {
		return err
	}
	return &amigo.Error{Kind: kind, Op: "import", Message: fmt.Sprintf("line %d / 第%d行: %s", line, line, amigo.ErrorMessage(err)), Err: err}
}

// DecodeCSV reads a CSV file of kind (a header row naming the columns, in
// any order, then one row per line) and checks every field's syntax; names
// are resolved later, in the import's transaction. At most MaxImportRows
// rows and MaxImportBytes bytes; an error names its line.
func DecodeCSV(kind string, r io.Reader) ([]Row, error) {
	if err := CheckKind(kind); err != nil {
		return nil, err
	}
	lr := &io.LimitedReader{R: r, N: MaxImportBytes + 1}
	cr := csv.NewReader(lr)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, invalid("import", "the CSV is empty: a header row is needed / CSV 为空，需要表头行")
	}
	if err != nil {
		return nil, csvErr(lr, err)
	}
	col := map[string]int{}
	known := map[string]bool{}
	for _, c := range columns[kind] {
		known[c.name] = true
	}
	for i, h := range head {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // a spreadsheet's byte-order mark
		}
		h = strings.ToLower(strings.TrimSpace(h))
		if !known[h] {
			return nil, invalid("import", "line 1: unknown column %q for %s / 第1行: %s 没有列 %q", h, kind, kind, h)
		}
		if _, dup := col[h]; dup {
			return nil, invalid("import", "line 1: column %q twice / 第1行: 列 %q 重复", h, h)
		}
		col[h] = i
	}
	for _, c := range columns[kind] {
		if _, ok := col[c.name]; c.required && !ok {
			return nil, invalid("import", "line 1: the header lacks column %q / 第1行: 表头缺少列 %q", c.name, c.name)
		}
	}
	limit := MaxImportRows
	if kind == KindUsers {
		limit = MaxImportUserRows
	}
	var rows []Row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvErr(lr, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rows) >= limit {
			return nil, invalid("import", "line %d: more than %d rows; split the file / 第%d行: 超过%d行，请拆分文件", line, limit, line, limit)
		}
		vals := make(map[string]string, len(col))
		for name, i := range col {
			v := strings.TrimSpace(rec[i])
			if len(v) > maxImportFieldSize {
				return nil, invalid("import", "line %d: column %s longer than %d bytes / 第%d行: 列 %s 过长", line, name, maxImportFieldSize, line, name)
			}
			if v != "" {
				vals[name] = v
			}
		}
		in, err := decodeRow(kind, vals)
		if err != nil {
			return nil, lineErr(line, err)
		}
		rows = append(rows, Row{Line: line, Input: in})
	}
	if len(rows) == 0 {
		return nil, invalid("import", "the CSV has a header and no rows / CSV 只有表头没有数据")
	}
	return rows, nil
}

func csvErr(lr *io.LimitedReader, err error) error {
	if lr.N <= 0 {
		return invalid("import", "the CSV is larger than %d MiB; split it / CSV 超过 %d MiB，请拆分", MaxImportBytes>>20, MaxImportBytes>>20)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return invalid("import", "line %d: %v / 第%d行: CSV 格式错误", pe.Line, pe.Err, pe.Line)
	}
	return invalid("import", "unreadable CSV: %v / 无法读取 CSV", err)
}

// decodeRow turns one row's values into the kind's input.
func decodeRow(kind string, v map[string]string) (any, error) {
	var errs []error
	str := func(name string) *string {
		if s, ok := v[name]; ok {
			return &s
		}
		return nil
	}
	num := func(name string) *int {
		s, ok := v[name]
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, invalid("import", "column %s: %q is not a whole number / 列 %s 应为整数", name, s, name))
		}
		return &n
	}
	flt := func(name string) *float64 {
		s, ok := v[name]
		if !ok {
			return nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			errs = append(errs, invalid("import", "column %s: %q is not a number / 列 %s 应为数字", name, s, name))
		}
		return &f
	}
	boolean := func(name string) *bool {
		s, ok := v[name]
		if !ok {
			return nil
		}
		var b bool
		switch strings.ToLower(s) {
		case "true", "1", "yes", "y", "是":
			b = true
		case "false", "0", "no", "n", "否":
		default:
			errs = append(errs, invalid("import", "column %s: %q: want true or false / 列 %s 应为 true 或 false", name, s, name))
		}
		return &b
	}
	var in any
	switch kind {
	case KindSites:
		in = SiteInput{Name: str("name"), TimeZone: str("time_zone")}
	case KindAreas:
		in = AreaInput{Site: str("site"), Name: str("name"), SupplyMeter: str("supply_meter"), LossLow: flt("loss_low_percent"), LossHigh: flt("loss_high_percent")}
	case KindCollectors:
		in = CollectorInput{Site: str("site"), Address: str("address"), Name: str("name"), PlainTCP: boolean("plain_tcp"), RegSecret: str("reg_secret")}
	case KindMeters:
		m := MeterInput{Address: str("address"), Site: str("site"), Area: str("area"), Collector: str("collector"), Port: num("port"), Pn: num("pn"),
			Protocol: str("protocol"), Phases: num("phases"), RatedAmps: num("rated_amps"), CT: num("ct"), PT: num("pt"), Password: str("password"),
			Direct: boolean("direct"), IMEI: str("imei"), RegSecret: str("reg_secret"), Supply: boolean("supply")}
		if s, ok := v["account"]; ok {
			a, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				errs = append(errs, invalid("import", "column account: %q is not a whole number / 列 account 应为整数", s))
			}
			m.Account = &a
		}
		if s, ok := v["installed_at"]; ok {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				errs = append(errs, invalid("import", "column installed_at: %q: want an RFC 3339 time such as 2026-01-02T08:00:00+08:00 / 列 installed_at 应为 RFC 3339 时间", s))
			}
			m.InstalledAt = &t
		}
		if m.Address != nil && !digits(*m.Address, 12) {
			errs = append(errs, invalid("import", "meter address %q: want 12 digits / 表地址 %q 应为12位数字", *m.Address, *m.Address))
		}
		in = m
	case KindCustomers:
		in = CustomerInput{Name: str("name"), Phone: str("phone"), IDNumber: str("id_number")}
	case KindAccounts:
		a := AccountInput{Number: str("number"), Site: str("site"), Mode: str("mode"), Tariff: str("tariff"), CustomerName: str("customer_name"),
			Phone: str("phone"), IDNumber: str("id_number"), BillingDay: num("billing_day"), KeepPower: boolean("keep_power")}
		i64 := func(name string) *int64 {
			s, ok := v[name]
			if !ok {
				return nil
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < -int64(amigo.MaxFen) || n > int64(amigo.MaxFen) {
				errs = append(errs, invalid("import", "column %s: %q is not a whole number of fen / 列 %s 应为整数（分）", name, s, name))
			}
			return &n
		}
		a.Customer, a.LowBalanceFen, a.CreditLimitFen, a.OpeningBalanceFen = i64("customer"), i64("low_balance_fen"), i64("credit_limit_fen"), i64("opening_balance_fen")
		var from time.Time
		if s, ok := v["from"]; ok {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				errs = append(errs, invalid("import", "column from: %q: want an RFC 3339 time such as 2026-01-02T00:00:00+08:00 / 列 from 应为 RFC 3339 时间", s))
			}
			from = t
		}
		if s, ok := v["meters"]; ok {
			for _, addr := range strings.Split(s, ";") {
				addr = strings.TrimSpace(addr)
				if !digits(addr, 12) {
					errs = append(errs, invalid("import", "column meters: %q: want 12-digit addresses separated by ; / 列 meters 应为以分号分隔的12位表地址", addr))
				}
				a.Meters = append(a.Meters, AccountMeterInput{Address: addr, From: from})
			}
		}
		if a.Customer == nil && a.CustomerName == nil {
			errs = append(errs, invalid("import", "an account needs customer (an id) or customer_name (a new customer) / 需要 customer 或 customer_name"))
		}
		in = a
	case KindUsers:
		u := UserInput{Username: str("username"), Password: str("password"), Role: str("role"), PasswordHash: v["password_hash"]}
		if u.Password == nil && u.PasswordHash == "" {
			errs = append(errs, invalid("import", "a user needs password or password_hash / 用户需要 password 或 password_hash"))
		}
		in = u
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return in, nil
}

// ImportResult says what an import did.
type ImportResult struct {
	Kind    string `json:"kind"`
	Created int    `json:"created"`
}

// Import creates every row of a CSV file of kind in one transaction, or
// none: the first bad row (syntax, an unknown name, a broken rule, a
// duplicate) is named by its line and nothing is kept; a cancelled ctx
// keeps nothing either. The import is audited either way: on success in
// the same transaction, on failure in a write of its own after the
// rollback.
func (s *Service) Import(ctx context.Context, actor, kind string, r io.Reader) (ImportResult, error) {
	res := ImportResult{Kind: kind}
	rows, err := DecodeCSV(kind, r)
	if err == nil && kind == KindUsers {
		for i, row := range rows {
			u, err2 := prepareUser(row.Input.(UserInput))
			if err2 != nil {
				err = lineErr(row.Line, err2)
				break
			}
			rows[i].Input = u
		}
	}
	if err == nil {
		err = s.store.WithTx(ctx, func(tx amigo.Store) error {
			rv := newResolver(tx)
			for _, row := range rows {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := s.createRow(ctx, tx, rv, actor, row.Input); err != nil {
					return lineErr(row.Line, err)
				}
			}
			res.Created = len(rows)
			return tx.AppendAudit(ctx, amigo.AuditEntry{Time: s.now(), Actor: actor, Action: "import." + kind, Object: fmt.Sprintf("%d %s", len(rows), kind),
				Detail: fmt.Sprintf("all %d rows created / 全部%d行已创建", len(rows), len(rows))})
		})
	}
	if err != nil {
		res.Created = 0
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = &amigo.Error{Kind: amigo.EUNAVAILABLE, Op: "import", Message: "the import was cancelled: nothing was kept / 导入已取消，未保存任何数据", Err: err}
		}
		// The failure is audited in its own write, after the rollback, even
		// when the request was cancelled.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if aerr := s.store.AppendAudit(actx, amigo.AuditEntry{Time: s.now(), Actor: actor, Action: "import." + kind + ".failed", Object: kind,
			Detail: "nothing kept / 未保存任何数据: " + amigo.ErrorMessage(err)}); aerr != nil {
			return res, fmt.Errorf("%w (and the failure could not be audited: %v)", err, aerr)
		}
		return res, err
	}
	return res, nil
}

func (s *Service) createRow(ctx context.Context, tx amigo.Store, rv *resolver, actor string, in any) error {
	var err error
	switch x := in.(type) {
	case SiteInput:
		_, err = s.createSite(ctx, tx, rv, x)
	case AreaInput:
		_, err = s.createArea(ctx, tx, rv, x)
	case CollectorInput:
		_, err = s.createCollector(ctx, tx, rv, x)
	case MeterInput:
		_, err = s.createMeter(ctx, tx, rv, x)
	case amigo.User:
		err = createUser(ctx, tx, &x)
	case CustomerInput:
		c, perr := prepareCustomer(x)
		if err = perr; err == nil {
			err = tx.CreateCustomer(ctx, &c)
		}
	case AccountInput:
		_, err = s.createAccount(ctx, tx, rv, actor, x)
	default:
		err = fmt.Errorf("archive: no import for %T", in)
	}
	return err
}

// Export writes every in-service row of kind as CSV with a header row, in
// the columns Import reads: an export imported into an empty station (in
// the order of Kinds) gives the same archive. It carries secrets (meter
// control passwords, registration secrets, users' password hashes): the
// API lets only admins export.
func (s *Service) Export(ctx context.Context, kind string, w io.Writer) error {
	if err := CheckKind(kind); err != nil {
		return err
	}
	if kind == KindCustomers || kind == KindAccounts {
		return invalid("export", "%s are not exported as CSV; list them with GET /api/v1/accounts / 不支持导出%s", kind, kind)
	}
	var head []string
	for _, c := range columns[kind] {
		if kind == KindAreas && c.name == "supply_meter" {
			continue // carried by the meters' supply column
		}
		head = append(head, c.name)
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write(head)
	flush := func() error {
		cw.Flush()
		if buf.Len() > 64<<10 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			buf.Reset()
		}
		return cw.Error()
	}
	siteName := map[int64]string{}
	sites, err := s.store.ListSitesBy(ctx, amigo.ArchiveFilter{IncludeRetired: true})
	if err != nil {
		return err
	}
	for _, x := range sites {
		siteName[x.ID] = x.Name
	}
	switch kind {
	case KindSites:
		for _, x := range sites {
			if x.RetiredAt.IsZero() {
				cw.Write([]string{x.Name, x.TimeZone})
			}
		}
	case KindCollectors:
		cs, err := s.store.ListCollectors(ctx, 0)
		if err != nil {
			return err
		}
		for _, c := range cs {
			cw.Write([]string{siteName[c.SiteID], c.Address, c.Name, btoa(c.PlainTCP), c.RegSecret})
		}
	case KindAreas:
		as, err := s.store.ListAreas(ctx, 0)
		if err != nil {
			return err
		}
		for _, a := range as {
			cw.Write([]string{siteName[a.SiteID], a.Name, fmt.Sprint(a.LossLow), fmt.Sprint(a.LossHigh)})
		}
	case KindMeters:
		if err := s.exportMeters(ctx, cw, siteName, flush); err != nil {
			return err
		}
	case KindUsers:
		us, err := s.store.ListUsers(ctx, amigo.ArchiveFilter{})
		if err != nil {
			return err
		}
		for _, u := range us {
			if u.Role != amigo.RoleCustomer {
				cw.Write([]string{u.Username, u.Role, "", u.PasswordHash})
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func (s *Service) exportMeters(ctx context.Context, cw *csv.Writer, siteName map[int64]string, flush func() error) error {
	as, err := s.store.ListAreas(ctx, 0)
	if err != nil {
		return err
	}
	areaName, supplies := map[int64]string{}, map[int64]bool{}
	for _, a := range as {
		areaName[a.ID] = a.Name
		supplies[a.SupplyMeterID] = true
	}
	cs, err := s.store.ListCollectorsBy(ctx, amigo.ArchiveFilter{IncludeRetired: true})
	if err != nil {
		return err
	}
	colAddr := map[int64]string{}
	for _, c := range cs {
		colAddr[c.ID] = c.Address
	}
	const page = 5000
	for off := 0; ; off += page {
		ms, _, err := s.store.ListMeters(ctx, amigo.MeterFilter{Limit: page, Offset: off})
		if err != nil {
			return err
		}
		for _, m := range ms {
			cw.Write([]string{m.Address, siteName[m.SiteID], areaName[m.AreaID], colAddr[m.CollectorID], itoa(m.Port), itoa(m.Pn), m.Protocol,
				itoa(m.Phases), itoa(m.RatedAmps), itoa(m.CTRatio), itoa(m.PTRatio), m.Password, btoa(m.Direct), m.IMEI, m.RegSecret,
				itoa(m.AccountID), tstr(m.InstalledAt), btoa(supplies[m.ID] && m.AreaID != 0)})
		}
		if err := flush(); err != nil {
			return err
		}
		if len(ms) < page {
			return nil
		}
	}
}
