package sqlstore

import (
	"context"
	"time"

	"github.com/amigo-metering/amigo"
)

// Users, customers and accounts.

const userCols = `id, username, password_hash, role, customer_id, retired_at, token_gen`

func scanUser(row scanner) (amigo.User, error) {
	var u amigo.User
	var retired int64
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Role, &u.CustomerID, &retired, &u.TokenGen)
	u.RetiredAt = fromUnix(retired)
	return u, err
}

// CreateUser adds a user (EINVALID without a name or password hash;
// ECONFLICT for a username taken, retired users keep theirs).
func (s *DB) CreateUser(ctx context.Context, u *amigo.User) error {
	if u.Username == "" || u.PasswordHash == "" {
		return amigo.Errorf(amigo.EINVALID, "create user", "a user needs a name and a password / 用户需要用户名和密码")
	}
	id, err := s.insert(ctx, "create user", `INSERT INTO users (username, password_hash, role, customer_id, retired_at, token_gen) VALUES (?, ?, ?, ?, ?, ?)`,
		u.Username, u.PasswordHash, u.Role, u.CustomerID, unix(u.RetiredAt), u.TokenGen)
	u.ID = id
	return err
}

// FindUserByUsername returns a user, retired or not (ENOTFOUND).
func (s *DB) FindUserByUsername(ctx context.Context, username string) (amigo.User, error) {
	u, err := scanUser(s.x.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE username = ?`), username))
	if err != nil {
		return u, notFound("find user", "user", err)
	}
	return u, nil
}

// GetUser returns a user by id, retired or not (ENOTFOUND): one primary-key
// look-up, what every authenticated request costs.
func (s *DB) GetUser(ctx context.Context, id int64) (amigo.User, error) {
	u, err := scanUser(s.x.QueryRowContext(ctx, s.q(`SELECT `+userCols+` FROM users WHERE id = ?`), id))
	if err != nil {
		return u, notFound("get user", "user", err)
	}
	return u, nil
}

// ListUsers returns users in id order, retired ones too when asked.
func (s *DB) ListUsers(ctx context.Context, f amigo.ArchiveFilter) ([]amigo.User, error) {
	q := `SELECT ` + userCols + ` FROM users`
	if !f.IncludeRetired {
		q += ` WHERE retired_at = 0`
	}
	rows, err := s.x.QueryContext(ctx, q+` ORDER BY id`)
	if err != nil {
		return nil, internal("list users", err)
	}
	return collect(rows, "list users", scanUser)
}

// UpdateUser changes a user's role, password hash and customer; a changed
// password hash raises the token generation in the same statement, so the
// user's tokens die with the old password (ENOTFOUND, EINVALID).
func (s *DB) UpdateUser(ctx context.Context, u amigo.User) error {
	if u.PasswordHash == "" || u.Role == "" {
		return amigo.Errorf(amigo.EINVALID, "update user", "a user needs a password and a role / 用户需要密码和角色")
	}
	return s.exec1(ctx, "update user", "user", `UPDATE users SET role = ?, customer_id = ?, token_gen = token_gen + CASE WHEN password_hash = ? THEN 0 ELSE 1 END, password_hash = ? WHERE id = ?`,
		u.Role, u.CustomerID, u.PasswordHash, u.PasswordHash, u.ID)
}

// RetireUser marks a user retired and raises the token generation
// (ENOTFOUND; ECONFLICT when retired already).
func (s *DB) RetireUser(ctx context.Context, id int64, at time.Time) error {
	return s.retire(ctx, "retire user", "user", "users", "retired_at", id, at, ", token_gen = token_gen + 1")
}

// RaiseTokenGen ends the tokens issued to a user so far (ENOTFOUND).
func (s *DB) RaiseTokenGen(ctx context.Context, id int64) error {
	return s.exec1(ctx, "raise token generation", "user", `UPDATE users SET token_gen = token_gen + 1 WHERE id = ?`, id)
}
