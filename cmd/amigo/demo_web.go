package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
	"github.com/amigo-metering/amigo/internal/web"
)

// demoCustomerFile keeps the customer app's login the demo made: the
// account number and its one-time set-up code.
const demoCustomerFile = "customer-login"

// demoCustomerLogin makes sure the demo's prepaid account (demoPrepaid)
// has an app login and returns the line to print ("" when the demo has no
// prepaid account): its number and set-up code, which the first login
// replaces with the customer's own password.
func demoCustomerLogin(ctx context.Context, c DemoConfig) (string, error) {
	store, err := openStore(ctx, c.Store)
	if err != nil {
		return "", err
	}
	defer store.Close()
	// The prepaid account the demo prints (demo_money.go), else the first.
	number := demoPrepaid
	if _, err := store.FindAccountByNumber(ctx, number); amigo.ErrorKind(err) == amigo.ENOTFOUND {
		as, _, err := store.ListAccounts(ctx, amigo.AccountFilter{Mode: amigo.ModePrepaid, Limit: 1})
		if err != nil || len(as) == 0 {
			return "", err
		}
		number = as[0].Number
	} else if err != nil {
		return "", err
	}
	file := filepath.Join(c.Data, demoCustomerFile)
	code, err := web.EnsureCustomerLogin(ctx, store, number, "demo", false, time.Now())
	if err != nil {
		return "", err
	}
	if code != "" {
		if err := os.WriteFile(file, []byte(number+" "+code+"\n"), 0o600); err != nil {
			return "", err
		}
		return fmt.Sprintf("amigo demo: customer app /app/ — account %s, set-up code %s (first login: choose a password) / 用户App：户号 %s，初始码 %s（首次登录后设置密码）", number, code, number, code), nil
	}
	b, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if f := strings.Fields(string(b)); len(f) == 2 && f[0] == number {
		return fmt.Sprintf("amigo demo: customer app /app/ — account %s, set-up code %s unless already used (then the password chosen) / 用户App：户号 %s，初始码 %s（已使用则为所设密码）", number, f[1], number, f[1]), nil
	}
	return fmt.Sprintf("amigo demo: customer app /app/ — account %s (its login was set up in an earlier run) / 用户App：户号 %s（登录已于之前设置）", number, number), nil
}
