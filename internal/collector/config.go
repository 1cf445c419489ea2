// Package collector is amigo's concentrator (采集器): it reads the meters on
// its RS-485 lines and TCP serial servers on schedules, keeps what it read in
// a durable local store before anything else happens, and serves the master
// station over Q/GDW 1376.1 inside TLS 1.3 with a client certificate. The
// station's requests are answered from the store; a value is marked
// delivered only when the station confirms it. Controls and transparent
// frames from the station are passed through to the meters.
package collector

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/amigo-metering/amigo/dlt645"
	"github.com/amigo-metering/amigo/internal/serialline"
	"github.com/amigo-metering/amigo/internal/vclock"
	"github.com/amigo-metering/amigo/q1376"
)

// Config is the collector's configuration file (JSON). See
// docs/collector.example.json.
type Config struct {
	Terminal string   `json:"terminal"` // A1-A2, e.g. "0171-2082"
	Stations []string `json:"stations"` // host:port, tried in turn
	CAFile   string   `json:"ca_file"`
	CertFile string   `json:"cert_file"`
	KeyFile  string   `json:"key_file"`
	// ServerName is the station's name in its certificate; default: the
	// host of the station address.
	ServerName string `json:"server_name,omitempty"`
	// PlainTCP sends 1376.1 without TLS: only for a third-party station that
	// cannot do TLS, and only when set explicitly.
	PlainTCP bool `json:"plain_tcp,omitempty"`
	// AuthKey is this terminal's downlink key, 64 hex digits: the station
	// signs its commands (AFN 01, 04, 05, 10) with it and the collector
	// refuses any it cannot verify (docs/link.md §1). `amigo collector-key`
	// prints it. AuthKeyFile names a file holding the same (one of the two).
	// Without a key the collector trusts commands on a TLS link (the
	// station's certificate) and refuses every command on plain TCP.
	AuthKey     string `json:"auth_key,omitempty"`
	AuthKeyFile string `json:"auth_key_file,omitempty"`

	Heartbeat      Duration `json:"heartbeat"`       // real time; default 60s
	RealtimeEvery  Duration `json:"realtime_every"`  // collector clock; default 15m
	DailyAfter     Duration `json:"daily_after"`     // after midnight; default 5m
	ClockThreshold Duration `json:"clock_threshold"` // default 60s
	Timeout        Duration `json:"timeout"`         // per request on a line; default 2s
	Retries        int      `json:"retries"`         // default 2
	TimeZone       string   `json:"time_zone"`       // default Asia/Shanghai
	RealtimeKeep   Duration `json:"realtime_keep"`   // default 168h
	ReconnectMax   Duration `json:"reconnect_max"`   // longest wait between station connection attempts; default 5m
	// StoreCap is the most readings the store keeps (rows; default
	// 1,000,000, about 200 MB). At the cap the oldest delivered data goes
	// first, then undelivered real-time, monthly and, last, daily data;
	// undelivered data lost that way is logged and recorded as an event.
	StoreCap int `json:"store_cap_rows,omitempty"`

	Ports  []Port  `json:"ports"`
	Meters []Meter `json:"meters"`

	// Set by programs, not by the file.
	DataDir string         `json:"-"`
	Clock   vclock.Clock   `json:"-"`
	Log     *slog.Logger   `json:"-"`
	Loc     *time.Location `json:"-"`
	addr    q1376.Address
	authKey []byte
}

// Port is one line the collector reads meters on.
type Port struct {
	Number   uint8  `json:"number"`            // 1..31, as in the 1376.1 archive
	Device   string `json:"device,omitempty"`  // serial device
	Address  string `json:"address,omitempty"` // or a TCP serial server
	Baud     int    `json:"baud,omitempty"`
	Parity   string `json:"parity,omitempty"`
	StopBits int    `json:"stop_bits,omitempty"`
}

// Meter is one configured meter (the station's archive, once pushed, takes
// precedence).
type Meter struct {
	Address  string `json:"address"`
	Port     uint8  `json:"port"`
	Pn       uint16 `json:"pn"`
	Password string `json:"password,omitempty"` // level + password, 8 hex digits, e.g. "02123456"
	Operator string `json:"operator,omitempty"` // 8 hex digits
	Protocol string `json:"protocol,omitempty"` // "dlt645-2007" (default) or "dlt645-1997"
}

// Duration is a time.Duration written as "15m" in JSON.
type Duration time.Duration

// UnmarshalJSON reads "15m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string like \"15m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "15m".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func orDur(d Duration, def time.Duration) Duration {
	if d <= 0 {
		return Duration(def)
	}
	return d
}

// LoadConfig reads a configuration file.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("collector: config: %w", err)
	}
	c, err = parseConfig(b)
	if err != nil {
		return c, fmt.Errorf("collector: config %s: %w", path, err)
	}
	return c, nil
}

// parseConfig decodes a configuration file's bytes (fuzzed through
// LoadConfig).
func parseConfig(b []byte) (Config, error) {
	var c Config
	err := json.Unmarshal(b, &c)
	return c, err
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	a, err := q1376.ParseAddress(c.Terminal)
	if err != nil || a.A2 == 0 {
		return fmt.Errorf("collector: terminal %q: want A1-A2 like 0171-2082 with A2 1..65535", c.Terminal)
	}
	c.addr = a
	if c.authKey, err = loadAuthKey(c.AuthKey, c.AuthKeyFile); err != nil {
		return err
	}
	if len(c.Stations) == 0 {
		return errors.New("collector: no station address")
	}
	if !c.PlainTCP && (c.CAFile == "" || c.CertFile == "" || c.KeyFile == "") {
		return errors.New("collector: ca_file, cert_file and key_file are needed for TLS (or set plain_tcp for a station without TLS)")
	}
	if err := c.checkBounds(); err != nil {
		return err
	}
	c.Heartbeat = orDur(c.Heartbeat, time.Minute)
	c.RealtimeEvery = orDur(c.RealtimeEvery, 15*time.Minute)
	c.DailyAfter = orDur(c.DailyAfter, 5*time.Minute)
	c.ClockThreshold = orDur(c.ClockThreshold, time.Minute)
	c.Timeout = orDur(c.Timeout, 2*time.Second)
	c.RealtimeKeep = orDur(c.RealtimeKeep, 7*24*time.Hour)
	c.ReconnectMax = orDur(c.ReconnectMax, 5*time.Minute)
	if c.StoreCap <= 0 {
		c.StoreCap = 1_000_000
	}
	if c.Retries == 0 {
		c.Retries = 2
	}
	if c.TimeZone == "" {
		c.TimeZone = "Asia/Shanghai"
	}
	if c.Loc == nil {
		loc, err := time.LoadLocation(c.TimeZone)
		if err != nil {
			return fmt.Errorf("collector: time zone %q: %w", c.TimeZone, err)
		}
		c.Loc = loc
	}
	if c.DataDir == "" {
		return errors.New("collector: no data directory")
	}
	if c.Clock == nil {
		c.Clock = vclock.Real{}
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	ports := map[uint8]bool{}
	for _, p := range c.Ports {
		if p.Number == 0 || p.Number > 31 {
			return fmt.Errorf("collector: port number %d: want 1..31", p.Number)
		}
		if ports[p.Number] {
			return fmt.Errorf("collector: port %d defined twice", p.Number)
		}
		ports[p.Number] = true
		lc := p.line()
		if err := lc.Validate(); err != nil {
			return fmt.Errorf("collector: port %d: %w", p.Number, err)
		}
	}
	pns := map[uint16]bool{}
	for _, m := range c.Meters {
		if _, err := m.entry(); err != nil {
			return err
		}
		if !ports[m.Port] {
			return fmt.Errorf("collector: meter %s is on port %d, which is not configured", m.Address, m.Port)
		}
		if m.Pn == 0 || pns[m.Pn] {
			return fmt.Errorf("collector: meter %s: measuring point %d is zero or used twice", m.Address, m.Pn)
		}
		pns[m.Pn] = true
	}
	return nil
}

// loadAuthKey reads the downlink key from the configuration or its file:
// 64 hex digits (surrounding white space ignored). No key is nil.
func loadAuthKey(hexKey, file string) ([]byte, error) {
	if hexKey != "" && file != "" {
		return nil, errors.New("collector: auth_key and auth_key_file are both set: use one / auth_key 与 auth_key_file 只能设置一个")
	}
	src := "auth_key"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("collector: auth_key_file 无法读取命令认证密钥文件: %w", err)
		}
		hexKey, src = string(b), "auth_key_file "+file
	}
	if hexKey == "" {
		return nil, nil
	}
	k, err := hex.DecodeString(strings.TrimSpace(hexKey))
	if err != nil || len(k) != q1376.KeyLen {
		// The key itself is never repeated in a message.
		return nil, fmt.Errorf("collector: %s: want %d hex digits (amigo collector-key prints them) / 密钥应为%d位十六进制数", src, 2*q1376.KeyLen, 2*q1376.KeyLen)
	}
	return k, nil
}

func (p Port) line() serialline.Config {
	return serialline.Config{Device: p.Device, Address: p.Address, Baud: p.Baud, Parity: p.Parity, StopBits: p.StopBits}
}

func (m Meter) entry() (MeterEntry, error) {
	a, err := dlt645.ParseAddress(m.Address)
	if err != nil {
		return MeterEntry{}, fmt.Errorf("collector: meter: %w", err)
	}
	auth, err := dlt645.ParseAuth(orStr(m.Password, "02000000"), orStr(m.Operator, "00000000"))
	if err != nil {
		return MeterEntry{}, fmt.Errorf("collector: meter %s: %w", m.Address, err)
	}
	proto := uint8(q1376.ProtoDLT645_2007)
	switch m.Protocol {
	case "", "dlt645-2007":
	case "dlt645-1997":
		proto = q1376.ProtoDLT645_1997
	default:
		return MeterEntry{}, fmt.Errorf("collector: meter %s: protocol %q: want dlt645-2007 or dlt645-1997 / 规约应为 dlt645-2007 或 dlt645-1997", m.Address, m.Protocol)
	}
	return MeterEntry{Pn: m.Pn, Port: m.Port, Address: a, Protocol: proto, Auth: auth}, nil
}

func orStr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// bound is the range a configured value may take (0 takes the default).
type bound struct {
	key      string
	val, max time.Duration
}

// checkBounds refuses negative and absurd values before the defaults are
// filled in: a heartbeat of a year, a reading cycle of a nanosecond (a busy
// loop), retries without end.
func (c *Config) checkBounds() error {
	for _, b := range []bound{{"heartbeat", time.Duration(c.Heartbeat), time.Hour}, {"realtime_every", time.Duration(c.RealtimeEvery), 24 * time.Hour},
		{"daily_after", time.Duration(c.DailyAfter), 23 * time.Hour}, {"clock_threshold", time.Duration(c.ClockThreshold), time.Hour},
		{"timeout", time.Duration(c.Timeout), time.Minute}, {"realtime_keep", time.Duration(c.RealtimeKeep), 400 * 24 * time.Hour},
		{"reconnect_max", time.Duration(c.ReconnectMax), 24 * time.Hour}} {
		if b.val < 0 || b.val > b.max {
			return fmt.Errorf("collector: %s %v: want 0 (the default) up to %v / %s 超出范围", b.key, b.val, b.max, b.key)
		}
	}
	if c.RealtimeEvery != 0 && c.RealtimeEvery < Duration(time.Second) {
		return fmt.Errorf("collector: realtime_every %v: want at least 1s / realtime_every 至少 1s", time.Duration(c.RealtimeEvery))
	}
	if c.Retries < 0 || c.Retries > 10 {
		return fmt.Errorf("collector: retries %d: want 0 (the default, 2) up to 10 / retries 应为 0..10", c.Retries)
	}
	if c.StoreCap < 0 || c.StoreCap > 100_000_000 {
		return fmt.Errorf("collector: store_cap_rows %d: want 0 (the default) up to 100000000 / store_cap_rows 超出范围", c.StoreCap)
	}
	if len(c.Meters) > 2040 {
		return fmt.Errorf("collector: %d meters: a terminal has at most 2040 measuring points / 最多 2040 个测量点", len(c.Meters))
	}
	return nil
}
