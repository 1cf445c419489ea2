package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/archive"
)

func init() {
	register(command{name: "admin", summary: "users and the archive on a station's store, server stopped or not / 管理用户与档案", run: runAdmin})
}

const adminUsage = `usage: amigo admin <action> --config station.json [flags]   用法: amigo admin <操作> --config station.json [参数]
Works on the station's store named by the configuration, whether or not the station runs.
直接操作配置文件指定的主站存储，无需启动主站。
actions / 操作:
  create-user  --username U --role admin|operator|cashier|viewer [--password-file FILE]
               a user; the password is asked on the terminal, or read from FILE (first line)
               创建用户；密码在终端输入，或从文件首行读取
  set-password --username U [--password-file FILE]
               a new password (the user's tokens end) / 设置新密码（该用户令牌作废）
  retire-user  --username U     retire a user: their tokens end at once / 注销用户，令牌立即作废
  list-users                    users in service (--retired adds retired ones) / 列出用户
  import KIND FILE              import a CSV of sites|collectors|areas|meters|users|customers|accounts: all rows or none
                                导入 CSV：全部成功或全部不导入
  export KIND                   write the CSV of a kind to stdout / 将某类档案导出为 CSV 到标准输出
Import order for a new station / 新主站导入顺序: sites, collectors, areas, meters, users (then tariffs, customers, accounts).
`

// runAdmin is `amigo admin`.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return adminMain(ctx, args, os.Stdin, stdout, stderr)
}

func adminMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, adminUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	action := args[0]
	fs := flag.NewFlagSet("admin "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "station.json", "station configuration / 主站配置文件")
	username := fs.String("username", "", "user name / 用户名")
	role := fs.String("role", "", "admin, operator, cashier or viewer / 角色")
	pwFile := fs.String("password-file", "", "read the password from the first line of this file / 从文件首行读取密码")
	withRetired := fs.Bool("retired", false, "list retired users too / 包括已注销用户")
	fs.Usage = func() { fmt.Fprint(stdout, adminUsage) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "amigo admin %s: %s\n", action, message(err))
		return 1
	}
	need := func(n int, what string) bool {
		if fs.NArg() != n {
			fmt.Fprintf(stderr, "amigo admin %s: want %s / 参数应为 %s\n", action, what, what)
			return false
		}
		return true
	}
	switch action {
	case "create-user", "set-password", "retire-user", "list-users", "import", "export":
	default:
		fmt.Fprintf(stderr, "amigo admin: unknown action %q / 未知操作 %q\n", action, action)
		fmt.Fprint(stderr, adminUsage)
		return 2
	}
	cfg, err := loadStationConfig(*config)
	if err != nil {
		return fail(fmt.Errorf("configuration / 配置: %w", err))
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	arch := archive.New(store, time.Now)
	actor := "amigo-admin"
	if u := os.Getenv("USER"); u != "" {
		actor += ":" + u
	}
	switch action {
	case "create-user", "set-password":
		if *username == "" || (action == "create-user" && *role == "") {
			fmt.Fprintf(stderr, "amigo admin %s: --username and --role are needed / 需要 --username 和 --role\n", action)
			return 2
		}
		pw, err := readPassword(*pwFile, stdin, stderr)
		if err != nil {
			return fail(err)
		}
		if action == "create-user" {
			u, err := arch.CreateUser(ctx, actor, archive.UserInput{Username: username, Password: &pw, Role: role})
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, "user %s created with role %s / 已创建用户 %s，角色 %s\n", u.Username, u.Role, u.Username, u.Role)
			return 0
		}
		if _, err := arch.UpdateUser(ctx, actor, *username, archive.UserInput{Password: &pw}); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "password of %s changed; their tokens ended / 已修改 %s 的密码，原令牌作废\n", *username, *username)
	case "retire-user":
		if *username == "" {
			fmt.Fprintf(stderr, "amigo admin retire-user: --username is needed / 需要 --username\n")
			return 2
		}
		if err := arch.RetireUser(ctx, actor, *username); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "user %s retired; their tokens ended / 已注销用户 %s，令牌作废\n", *username, *username)
	case "list-users":
		us, err := store.ListUsers(ctx, amigo.ArchiveFilter{IncludeRetired: *withRetired})
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "%-24s %-9s %s\n", "username 用户名", "role 角色", "retired 注销")
		for _, u := range us {
			ret := "-"
			if !u.RetiredAt.IsZero() {
				ret = u.RetiredAt.Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%-24s %-9s %s\n", u.Username, u.Role, ret)
		}
	case "import":
		if !need(2, "KIND FILE") {
			return 2
		}
		f, err := os.Open(fs.Arg(1))
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		res, err := arch.Import(ctx, actor, fs.Arg(0), f)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", fs.Arg(1), err))
		}
		fmt.Fprintf(stdout, "%d %s imported / 已导入 %d 条%s\n", res.Created, res.Kind, res.Created, res.Kind)
	case "export":
		if !need(1, "KIND") {
			return 2
		}
		if err := arch.Export(ctx, fs.Arg(0), stdout); err != nil {
			return fail(err)
		}
	}
	return 0
}

// message is what a person sees of err: the bilingual message of a domain
// error, the text of any other.
func message(err error) string {
	var e *amigo.Error
	if errors.As(err, &e) && e.Kind != amigo.EINTERNAL {
		s := err.Error()
		if i := strings.Index(s, e.Message); i >= 0 && e.Message != "" {
			return s[:i] + e.Message
		}
		return e.Message
	}
	return err.Error()
}

// readPassword reads a password from the first line of file, else from the
// terminal without echo (twice, to catch a typo), else from the first line
// of stdin.
func readPassword(file string, stdin io.Reader, stderr io.Writer) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(stderr, "password / 密码: ")
		a, err := readNoEcho(f)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "again / 再次输入: ")
		b, err := readNoEcho(f)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if a != b {
			return "", errors.New("the two passwords differ / 两次输入的密码不一致")
		}
		return a, nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", errors.New("no password on stdin: use a terminal or --password-file / 标准输入没有密码：请在终端输入或使用 --password-file")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ensureAdmin applies the configuration's admin_password: on a store with no
// user "admin" it creates that admin (audited); on a store that has one it
// must be that admin's password, or the station refuses to start, saying
// what to do. An empty admin_password changes nothing.
func ensureAdmin(ctx context.Context, store amigo.Store, password string, now func() time.Time, log *slog.Logger) error {
	if password == "" {
		if us, err := store.ListUsers(ctx, amigo.ArchiveFilter{}); err == nil && len(us) == 0 {
			log.Warn("no user can log in: create the first admin with `amigo admin create-user --role admin` or set admin_password / 尚无用户：请用 amigo admin create-user 创建管理员或设置 admin_password")
		}
		return nil
	}
	u, err := store.FindUserByUsername(ctx, "admin")
	if amigo.ErrorKind(err) == amigo.ENOTFOUND {
		if _, err := archive.New(store, now).CreateUser(ctx, "config:admin_password", archive.UserInput{Username: new("admin"), Password: &password, Role: new(amigo.RoleAdmin)}); err != nil {
			return fmt.Errorf("admin_password: %s", message(err))
		}
		log.Info("user admin created from admin_password / 已根据 admin_password 创建用户 admin")
		return nil
	}
	if err != nil {
		return err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil || !u.RetiredAt.IsZero() {
		return errors.New("admin_password in the configuration is not the stored admin's password (it applies only on the first start): " +
			"remove the key from the configuration, or change the stored password with `amigo admin set-password --config FILE --username admin` / " +
			"配置中的 admin_password 与已存管理员密码不一致（仅首次启动时生效）：请从配置中删除该项，或用 amigo admin set-password 修改密码")
	}
	return nil
}
