package archive

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/q1376"
)

// Limits of the archive's fields.
const (
	MaxName       = 100 // characters of a site, area or collector name
	MaxSecret     = 64  // bytes of a registration secret
	MinPassword   = 8   // characters of a user's password
	MaxPassword   = 72  // bytes: bcrypt reads no more
	MaxRatedAmps  = 1000
	MaxCT         = 10000
	MaxPT         = 10000
	MaxPort       = 31
	MaxPn         = 2040
	MaxLossPct    = 100.0
	MaxUsername   = 64
	ProtocolDL07  = "dlt645-2007"
	ProtocolDL97  = "dlt645-1997"
	defaultMeterP = "02000000"
)

// Roles a user may have through the archive (customers come with their
// accounts).
var Roles = []string{amigo.RoleAdmin, amigo.RoleOperator, amigo.RoleCashier, amigo.RoleViewer}

func checkName(op, what, s string) error {
	if strings.TrimSpace(s) == "" {
		return invalid(op, "%s: a name is needed / 需要名称", what)
	}
	if s != strings.TrimSpace(s) {
		return invalid(op, "%s %q: no spaces at the ends / 名称首尾不能有空格", what, s)
	}
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxName {
		return invalid(op, "%s: a name of at most %d characters in UTF-8 / 名称最多%d个字符", what, MaxName, MaxName)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid(op, "%s %q: no control characters / 名称不能含控制字符", what, s)
		}
	}
	return nil
}

func checkTimeZone(op, tz string) error {
	if tz == "" || tz == "Local" {
		return invalid(op, "time zone %q: an IANA name such as Asia/Shanghai / 时区应为 IANA 名称，如 Asia/Shanghai", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return invalid(op, "unknown time zone %q / 未知时区 %q", tz, tz)
	}
	return nil
}

// CollectorAddress returns the canonical terminal address A1-A2 ("0171-2082":
// A1 four hex digits, A2 1..65534 in decimal).
func CollectorAddress(s string) (string, error) {
	a, err := q1376.ParseAddress(s)
	if err != nil || a.A2 == 0 || a.A2 == 0xFFFF || strings.TrimSpace(s) != s {
		return "", invalid("collector", "terminal address %q: want A1-A2 such as 0171-2082 (A1 4 hex digits, A2 1..65534) / 终端地址 %q 格式应如 0171-2082", s, s)
	}
	return a.String(), nil
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func hexDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func checkSecret(op, s string) error {
	if len(s) > MaxSecret {
		return invalid(op, "registration secret: at most %d bytes / 注册密钥最多%d字节", MaxSecret, MaxSecret)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return invalid(op, "registration secret: printable ASCII without spaces / 注册密钥只能含可打印ASCII字符且无空格")
		}
	}
	return nil
}

// checkMeter validates every archive field of a meter (defaults applied).
func checkMeter(m *amigo.Meter) error {
	const op = "meter"
	a := m.Address
	switch {
	case !digits(a, 12):
		return invalid(op, "meter address %q: want 12 digits / 表地址 %q 应为12位数字", a, a)
	case m.Protocol != ProtocolDL07 && m.Protocol != ProtocolDL97:
		return invalid(op, "meter %s: protocol %q: want dlt645-2007 or dlt645-1997 / 规约应为 dlt645-2007 或 dlt645-1997", a, m.Protocol)
	case m.Phases != 1 && m.Phases != 3:
		return invalid(op, "meter %s: phases %d: want 1 or 3 / 相数 %d 应为 1 或 3", a, m.Phases, m.Phases)
	case m.RatedAmps < 1 || m.RatedAmps > MaxRatedAmps:
		return invalid(op, "meter %s: rated current %d A: want 1..%d / 额定电流 %d A 应在 1..%d 之间", a, m.RatedAmps, MaxRatedAmps, m.RatedAmps, MaxRatedAmps)
	case m.CTRatio < 1 || m.CTRatio > MaxCT:
		return invalid(op, "meter %s: CT ratio %d: want 1..%d / 电流互感器变比 %d 应在 1..%d 之间", a, m.CTRatio, MaxCT, m.CTRatio, MaxCT)
	case m.PTRatio < 1 || m.PTRatio > MaxPT:
		return invalid(op, "meter %s: PT ratio %d: want 1..%d / 电压互感器变比 %d 应在 1..%d 之间", a, m.PTRatio, MaxPT, m.PTRatio, MaxPT)
	case !hexDigits(m.Password, 8):
		return invalid(op, "meter %s: control password: want 8 hex digits (level and password) / 控制密码应为8位十六进制数", a)
	case m.IMEI != "" && !digits(m.IMEI, 15):
		return invalid(op, "meter %s: IMEI %q: want 15 digits / IMEI 应为15位数字", a, m.IMEI)
	case m.AccountID < 0:
		return invalid(op, "meter %s: account %d: want a positive id / 账户编号应为正数", a, m.AccountID)
	}
	if m.Direct {
		if m.CollectorID != 0 || m.Port != 0 || m.Pn != 0 {
			return invalid(op, "meter %s: a direct GPRS meter has no collector, port or measuring point / GPRS直连电表不能有采集器、端口或测量点", a)
		}
	} else {
		switch {
		case m.CollectorID == 0:
			return invalid(op, "meter %s: name its collector, or set direct for a GPRS meter / 请指定采集器，或设为GPRS直连", a)
		case m.Port < 1 || m.Port > MaxPort:
			return invalid(op, "meter %s: port %d: want 1..%d / 端口 %d 应在 1..%d 之间", a, m.Port, MaxPort, m.Port, MaxPort)
		case m.Pn < 1 || m.Pn > MaxPn:
			return invalid(op, "meter %s: measuring point (pn) %d: want 1..%d / 测量点 %d 应在 1..%d 之间", a, m.Pn, MaxPn, m.Pn, MaxPn)
		}
		if m.IMEI != "" || m.RegSecret != "" {
			return invalid(op, "meter %s: IMEI and registration secret are for direct GPRS meters / IMEI和注册密钥仅用于GPRS直连电表", a)
		}
	}
	return checkSecret(op, m.RegSecret)
}

func checkRole(role string) error {
	for _, r := range Roles {
		if role == r {
			return nil
		}
	}
	return invalid("user", "role %q: want admin, operator, cashier or viewer / 角色应为 admin、operator、cashier 或 viewer", role)
}

func checkUsername(u string) error {
	if u == "" || len(u) > MaxUsername {
		return invalid("user", "username: 1..%d characters / 用户名应为1..%d个字符", MaxUsername, MaxUsername)
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return invalid("user", "username %q: letters, digits and . _ - @ only / 用户名只能含字母、数字和 . _ - @", u)
		}
	}
	return nil
}

// CheckPassword validates a new password: 8 characters at least, 72 bytes
// at most (what bcrypt reads).
func CheckPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPassword {
		return invalid("password", "a password needs at least %d characters / 密码至少%d位", MinPassword, MinPassword)
	}
	if len(pw) > MaxPassword {
		return invalid("password", "a password has at most %d bytes / 密码最多%d字节", MaxPassword, MaxPassword)
	}
	return nil
}
