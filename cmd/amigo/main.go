// Command amigo is the one binary of the amigo metering platform: the master
// station, the all-in-one demo, the virtual meter fleet, the frame tool and the
// administrative commands. Each subcommand lives in its own file and registers
// itself in init; main only dispatches.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"
)

// command is one subcommand of amigo. run receives the arguments after the
// subcommand's name and returns the process exit code.
type command struct {
	name    string
	summary string // "English / 中文"
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("amigo: duplicate subcommand " + c.name) // programming error at init, not input
	}
	commands[c.name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first Ctrl-C or SIGTERM the program shuts down cleanly; a
	// second one gets the default action and ends it at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand; it is what tests call. `amigo help`,
// `amigo --help` and `amigo help CMD` print to stdout and return 0; no
// command at all prints the usage to stderr and returns 2.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "help":
		if len(args) > 1 {
			if _, ok := commands[args[1]]; ok {
				return run(ctx, []string{args[1], "--help"}, stdout, stderr)
			}
			fmt.Fprintf(stderr, "amigo help: unknown command %q / 未知命令 %q\n", args[1], args[1])
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version())
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "amigo: unknown command %q / 未知命令 %q\n", args[0], args[0])
		usage(stderr)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: amigo <command> [flags]   用法: amigo <命令> [参数]")
	fmt.Fprintln(w, "commands / 命令:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "version", "print the version / 显示版本")
	fmt.Fprintf(w, "  %-10s %s\n", "help", "this text; `amigo help CMD` or `amigo CMD --help` for a command / 帮助")
}

// version describes the build: the module version and, when built from a
// git checkout, the VCS revision, its time and whether the tree was dirty.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "amigo (no build information / 无构建信息)"
	}
	v := "amigo " + bi.Main.Version
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " (modified / 有未提交修改)"
			}
		}
	}
	if rev != "" {
		v += " revision " + rev + " " + at + dirty
	}
	return v + " " + bi.GoVersion
}

// parseFlags parses a subcommand's flags. -h or --help prints the usage to
// stdout and returns (0, false); a bad flag prints the error and the usage to
// stderr and returns (2, false); otherwise it returns (0, true).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (int, bool) {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		stdout.Write(buf.Bytes())
		return 0, false
	case err != nil:
		stderr.Write(buf.Bytes())
		return 2, false
	}
	return 0, true
}

// setUsage makes fs print head (the usage line and any text, bilingual)
// before its flags.
func setUsage(fs *flag.FlagSet, head string) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), head)
		fmt.Fprintln(fs.Output(), "flags / 参数:")
		fs.PrintDefaults()
	}
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}
