// Package clilog sets up the structured logger of amigo's programs (amigo
// station, demo, sim and amigo-collector) so that they all log alike: one
// format (JSON lines by default, text on request), one level flag with -v as
// its shorthand for debug, and network addresses written as strings
// ("127.0.0.1:7001"), never as {"IP":…,"Port":…}.
package clilog

import (
	"encoding"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
)

// Flags are the logging flags every amigo program takes.
type Flags struct {
	Format  string // json or text
	Level   string // debug, info, warn or error
	Verbose bool   // -v: the same as --log-level debug
}

// Register adds --log-format, --log-level and -v to fs; level is the
// program's default level.
func (f *Flags) Register(fs *flag.FlagSet, level string) {
	fs.StringVar(&f.Format, "log-format", "json", "log format json|text / 日志格式")
	fs.StringVar(&f.Level, "log-level", level, "log level debug|info|warn|error / 日志级别")
	fs.BoolVar(&f.Verbose, "v", false, "verbose: the same as --log-level debug / 详细日志")
}

// New returns the logger the flags ask for, writing to w, or an error naming
// the bad flag.
func (f *Flags) New(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(f.Level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error / 日志级别错误", f.Level)
	}
	if f.Verbose {
		lv = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: ReplaceAttr}
	switch f.Format {
	case "json", "":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text / 日志格式错误", f.Format)
}

// ReplaceAttr writes a value that has a String method (a net.Addr, a
// terminal address) as that string, as people read and write it, instead of
// its fields; errors, text marshalers and other values pass unchanged. It is
// the HandlerOptions.ReplaceAttr of every amigo logger.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	switch v := a.Value.Any().(type) {
	case error, encoding.TextMarshaler, json.Marshaler:
	case net.Addr:
		if v != nil {
			a.Value = slog.StringValue(v.String())
		}
	case fmt.Stringer:
		a.Value = slog.StringValue(v.String())
	}
	return a
}
