package loadtest

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Result is what a run measured. A figure that was not measured is null in
// JSON and "—" in the table; Notes say why.
type Result struct {
	Meters     int     `json:"meters"`
	Collectors int     `json:"collectors"`
	GPRS       int     `json:"gprs"`
	Store      string  `json:"store"`
	Speed      float64 `json:"speed"`
	// Stations is the number of stations sharing the store when more than
	// one (a Group); the memory and CPU figures are then their sums, and
	// PerStation has each one's.
	Stations int `json:"stations,omitempty"`

	ConnectS           *float64 `json:"connect_s"`
	NightlyCollectionS *float64 `json:"nightly_collection_s"`
	// NightlyCollectorsS is the same for the meters behind collectors
	// alone (GPRS meters are collected apart).
	NightlyCollectorsS *float64 `json:"nightly_collectors_s"`
	Collected          int      `json:"collected"`
	// IngestReadingsPerS is the real-time ingest phase: every collector
	// connected and its slot due at once (the clock moved on), readings
	// committed a second from the pass's first request to the commit that
	// completed every meter (IngestSpanS).
	IngestReadingsPerS *float64 `json:"ingest_readings_per_s"`
	IngestSpanS        *float64 `json:"ingest_span_s,omitempty"`
	// IngestStartSpreadS is how long after the pass's first request the
	// last collector got its first, within the span; IngestStartS how long
	// after the clock moved on the first request came.
	IngestStartSpreadS *float64 `json:"ingest_start_spread_s,omitempty"`
	IngestStartS       *float64 `json:"ingest_start_s,omitempty"`
	// FirstPassS is from the storm's first dial to the commit that gave
	// every meter its first real-time reading: how long after a start
	// every meter has a fresh value (logins and ingest together). The
	// first pass starts with the first logins; its readings a second, span
	// and start spread are measured as the ingest phase's, and
	// FirstPassLoginWaitS is the longest a collector waited after its
	// login for its first real-time request.
	FirstPassS            *float64 `json:"first_pass_s,omitempty"`
	FirstPassReadingsPerS *float64 `json:"first_pass_readings_per_s,omitempty"`
	FirstPassSpanS        *float64 `json:"first_pass_span_s,omitempty"`
	FirstPassStartSpreadS *float64 `json:"first_pass_start_spread_s,omitempty"`
	FirstPassLoginWaitS   *float64 `json:"first_pass_login_wait_s,omitempty"`
	RawStoreRowsPerS      *float64 `json:"raw_store_rows_per_s"`
	CommandP50Ms          *float64 `json:"command_p50_ms"`
	CommandP99Ms          *float64 `json:"command_p99_ms"`
	CommandsOK            int      `json:"commands_succeeded"`
	CommandsFailed        int      `json:"commands_failed"`
	// CommandsRouted, with several stations, counts the commands posted
	// to a station other than the one holding the meter's collector's
	// session, which the stations had to hand over between them.
	CommandsRouted  *int     `json:"commands_routed,omitempty"`
	ReconnectS      *float64 `json:"reconnect_s"`
	RestartStartupS *float64 `json:"restart_startup_s"`
	// The reconnect storm's CPU: the restarted station's and the load
	// generator's from the restart until the last login; its logins
	// (every one, retries included) and how many resumed a TLS session.
	ReconnectCPUS      *float64 `json:"reconnect_cpu_s,omitempty"`
	ReconnectLoadCPUS  *float64 `json:"reconnect_loadgen_cpu_s,omitempty"`
	ReconnectLogins    int64    `json:"reconnect_logins,omitempty"`
	ReconnectResumed   int64    `json:"reconnect_resumed,omitempty"`
	StationRSSMB       *float64 `json:"station_rss_mb"`
	RSSPerConnectionKB *float64 `json:"rss_per_connection_kb"`
	// IdleRSSPerConnectionKB is the same once the real-time pass is done
	// and the sessions idled (the clock held still) for 15 s.
	IdleRSSPerConnectionKB *float64 `json:"idle_rss_per_connection_kb"`
	BytesPerReading        *float64 `json:"bytes_per_reading"`
	// TableBytesPerReading: the readings table with its indexes alone
	// (BytesPerReading on SQLite is the whole file, archive and WAL too).
	TableBytesPerReading *float64 `json:"readings_table_bytes_per_reading"`
	ReadingsStored       int64    `json:"readings_stored"`
	CPUS                 *float64 `json:"cpu_s"`
	LoadCPUS             float64  `json:"loadgen_cpu_s"`
	WallS                float64  `json:"wall_s"`
	Notes                []string `json:"notes,omitempty"`

	PerStation []StationFigures `json:"per_station,omitempty"`
}

// StationFigures are one station's own figures in a run of several.
type StationFigures struct {
	Node  int      `json:"node"`           // 1..N, in the order of the stations
	RSSMB *float64 `json:"station_rss_mb"` // peak resident memory before the restart
	CPUS  *float64 `json:"cpu_s"`          // CPU time of all its processes
}

func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	x = math.Round(x*1000) / 1000
	return &x
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// WriteTable writes the result as a markdown table.
func (r *Result) WriteTable(w io.Writer) {
	f := func(p *float64, unit string) string {
		if p == nil {
			return "—"
		}
		return fmt.Sprintf("%s%s", trim(*p), unit)
	}
	rows := [][2]string{
		{"meters (collectors / GPRS) 电表", fmt.Sprintf("%d (%d collectors, %d GPRS)", r.Meters, r.Collectors, r.GPRS)},
		{"store 存储", r.Store},
		{"connect_s 连接风暴", f(r.ConnectS, " s")},
		{"nightly_collection_s 夜间冻结采集", f(r.NightlyCollectionS, " s")},
		{"nightly_collectors_s 采集器下电表夜间采集", f(r.NightlyCollectorsS, " s")},
		{"collected 已采集", fmt.Sprintf("%d / %d", r.Collected, r.Meters)},
		{"ingest_readings_per_s 实时入库", f(r.IngestReadingsPerS, "")},
		{"ingest_span_s / start_spread_s 入库时长/起始差", f(r.IngestSpanS, " s") + " / " + f(r.IngestStartSpreadS, " s")},
		{"ingest_start_s 时钟前移至首次召测", f(r.IngestStartS, " s")},
		{"first_pass_s 启动至全部电表首次入库", f(r.FirstPassS, " s")},
		{"first_pass_readings_per_s 首轮实时入库", f(r.FirstPassReadingsPerS, "")},
		{"first_pass_span_s / start_spread_s 首轮时长/起始差", f(r.FirstPassSpanS, " s") + " / " + f(r.FirstPassStartSpreadS, " s")},
		{"first_pass_login_wait_s 登录后首次召测最长等待", f(r.FirstPassLoginWaitS, " s")},
		{"raw_store_rows_per_s 存储原始写入", f(r.RawStoreRowsPerS, "")},
		{"command_p50_ms 命令中位", f(r.CommandP50Ms, " ms")},
		{"command_p99_ms 命令P99", f(r.CommandP99Ms, " ms")},
		{"commands ok / failed 命令成功/失败", fmt.Sprintf("%d / %d", r.CommandsOK, r.CommandsFailed)},
		{"reconnect_s 重启后重连", f(r.ReconnectS, " s")},
		{"reconnect cpu: station / loadgen 重连CPU 主站/压测端", f(r.ReconnectCPUS, " s") + " / " + f(r.ReconnectLoadCPUS, " s")},
		{"reconnect logins (resumed) 重连登录（会话恢复）", fmt.Sprintf("%d (%d)", r.ReconnectLogins, r.ReconnectResumed)},
		{"station_rss_mb 主站内存峰值", f(r.StationRSSMB, " MB")},
		{"rss_per_connection_kb 每连接内存", f(r.RSSPerConnectionKB, " KB")},
		{"idle_rss_per_connection_kb 空闲每连接内存", f(r.IdleRSSPerConnectionKB, " KB")},
		{"bytes_per_reading 每读数字节", f(r.BytesPerReading, " B")},
		{"readings_table_bytes_per_reading 读数表每读数字节", f(r.TableBytesPerReading, " B")},
		{"readings_stored 读数总数", fmt.Sprint(r.ReadingsStored)},
		{"cpu_s 主站CPU", f(r.CPUS, " s")},
		{"loadgen_cpu_s 压测端CPU", trim(r.LoadCPUS) + " s"},
		{"wall_s 总耗时", trim(r.WallS) + " s"},
	}
	if r.Stations > 1 {
		rows = slices.Insert(rows, 2, [2]string{"stations 主站数", fmt.Sprintf("%d (memory and CPU summed / 内存与CPU为合计)", r.Stations)})
		if r.CommandsRouted != nil {
			at := slices.IndexFunc(rows, func(row [2]string) bool { return strings.HasPrefix(row[0], "commands ok") }) + 1
			rows = slices.Insert(rows, at, [2]string{"commands_routed 经其他主站下发的命令", fmt.Sprint(*r.CommandsRouted)})
		}
		for _, s := range r.PerStation {
			rows = append(rows, [2]string{fmt.Sprintf("station %d rss / cpu 主站%d 内存/CPU", s.Node, s.Node), f(s.RSSMB, " MB") + " / " + f(s.CPUS, " s")})
		}
	}
	fmt.Fprintln(w, "| figure 指标 | value 数值 |")
	fmt.Fprintln(w, "|---|---|")
	for _, row := range rows {
		fmt.Fprintf(w, "| %s | %s |\n", row[0], row[1])
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\n- %s", n)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
	}
}

func trim(x float64) string {
	s := fmt.Sprintf("%.3f", x)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
