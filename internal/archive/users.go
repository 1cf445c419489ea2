package archive

import (
	"context"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/amigo-metering/amigo"
)

// UserInput is a user as a person writes it. PasswordHash (a bcrypt hash)
// comes only from a users CSV exported by a station; JSON never carries it.
type UserInput struct {
	Username     *string `json:"username"`
	Password     *string `json:"password"`
	Role         *string `json:"role"`
	PasswordHash string  `json:"-"`
}

// HashPassword checks a new password and returns its bcrypt hash.
func HashPassword(pw string) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", &amigo.Error{Kind: amigo.EINTERNAL, Op: "hash password", Err: err}
	}
	return string(h), nil
}

// checkHash accepts a bcrypt hash as the CSV export writes it.
func checkHash(h string) error {
	if _, err := bcrypt.Cost([]byte(h)); err != nil || len(h) != 60 || !strings.HasPrefix(h, "$2") {
		return invalid("user", "password_hash: not a bcrypt hash as a station exports it / password_hash 不是有效的 bcrypt 哈希")
	}
	return nil
}

func userFields(u amigo.User) []field {
	return []field{{name: "username", value: u.Username}, {name: "role", value: u.Role}, {name: "password", value: u.PasswordHash, secret: true}}
}

// prepareUser validates a new user and hashes the password (slow: done
// before any transaction).
func prepareUser(in UserInput) (amigo.User, error) {
	var u amigo.User
	if in.Username != nil {
		u.Username = *in.Username
	}
	if err := checkUsername(u.Username); err != nil {
		return u, err
	}
	if in.Role != nil {
		u.Role = *in.Role
	}
	if err := checkRole(u.Role); err != nil {
		return u, err
	}
	switch {
	case in.Password != nil && *in.Password != "":
		h, err := HashPassword(*in.Password)
		if err != nil {
			return u, err
		}
		u.PasswordHash = h
	case in.PasswordHash != "":
		if err := checkHash(in.PasswordHash); err != nil {
			return u, err
		}
		u.PasswordHash = in.PasswordHash
	default:
		return u, invalid("user", "user %s needs a password (at least %d characters) / 用户 %s 需要密码（至少%d位）", u.Username, MinPassword, u.Username, MinPassword)
	}
	return u, nil
}

func createUser(ctx context.Context, tx amigo.Store, u *amigo.User) error {
	if _, err := tx.FindUserByUsername(ctx, u.Username); err == nil {
		return amigo.Errorf(amigo.ECONFLICT, "user", "user %s exists already (retired users keep their names) / 用户 %s 已存在（已注销用户的用户名不可复用）", u.Username, u.Username)
	}
	return tx.CreateUser(ctx, u)
}

// CreateUser creates a user with a role: admin, operator, cashier or
// viewer.
func (s *Service) CreateUser(ctx context.Context, actor string, in UserInput) (amigo.User, error) {
	in.PasswordHash = "" // only a CSV import may carry a hash
	u, err := prepareUser(in)
	if err != nil {
		return u, err
	}
	err = s.change(ctx, actor, func(tx amigo.Store, _ *resolver) (string, string, string, error) {
		return "user.create", "user " + u.Username, describe(userFields(u)), createUser(ctx, tx, &u)
	})
	return u, err
}

// User returns a user by username, retired or not.
func (s *Service) User(ctx context.Context, username string) (amigo.User, error) {
	return s.store.FindUserByUsername(ctx, username)
}

// UpdateUser changes a user's role or password; a new password ends the
// user's tokens.
func (s *Service) UpdateUser(ctx context.Context, actor, username string, in UserInput) (amigo.User, error) {
	var u amigo.User
	if in.Username != nil && *in.Username != username {
		return u, invalid("user", "a username does not change: create a new user / 用户名不可修改")
	}
	hash := ""
	if in.Password != nil {
		h, err := HashPassword(*in.Password)
		if err != nil {
			return u, err
		}
		hash = h
	}
	if in.Role != nil {
		if err := checkRole(*in.Role); err != nil {
			return u, err
		}
	}
	err := s.change(ctx, actor, func(tx amigo.Store, _ *resolver) (string, string, string, error) {
		var err error
		if u, err = tx.FindUserByUsername(ctx, username); err != nil {
			return "", "", "", err
		}
		if !u.RetiredAt.IsZero() {
			return "", "", "", amigo.Errorf(amigo.ECONFLICT, "user", "user %s is retired / 用户 %s 已注销", username, username)
		}
		before := userFields(u)
		if in.Role != nil {
			if u.Role == amigo.RoleAdmin && *in.Role != amigo.RoleAdmin {
				if err := lastAdmin(ctx, tx, u); err != nil {
					return "", "", "", err
				}
			}
			u.Role = *in.Role
		}
		if hash != "" {
			u.PasswordHash = hash
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return "", "", "", err
		}
		return "user.update", "user " + u.Username, diff(before, userFields(u)), nil
	})
	return u, err
}

// lastAdmin refuses to take away the last admin in service.
func lastAdmin(ctx context.Context, tx amigo.Store, u amigo.User) error {
	us, err := tx.ListUsers(ctx, amigo.ArchiveFilter{})
	if err != nil {
		return err
	}
	for _, o := range us {
		if o.ID != u.ID && o.Role == amigo.RoleAdmin {
			return nil
		}
	}
	return amigo.Errorf(amigo.ECONFLICT, "user", "%s is the last admin: create another admin first / %s 是最后一个管理员，请先创建其他管理员", u.Username, u.Username)
}

// RetireUser retires a user: their tokens end at once; the last admin
// cannot be retired.
func (s *Service) RetireUser(ctx context.Context, actor, username string) error {
	return s.change(ctx, actor, func(tx amigo.Store, _ *resolver) (string, string, string, error) {
		u, err := tx.FindUserByUsername(ctx, username)
		if err != nil {
			return "", "", "", err
		}
		if u.Role == amigo.RoleAdmin && u.RetiredAt.IsZero() {
			if err := lastAdmin(ctx, tx, u); err != nil {
				return "", "", "", err
			}
		}
		return "user.retire", "user " + u.Username, "", tx.RetireUser(ctx, u.ID, s.now())
	})
}

// Logout ends every token of the user (by id) so far.
func (s *Service) Logout(ctx context.Context, id int64, username string) error {
	return s.change(ctx, username, func(tx amigo.Store, _ *resolver) (string, string, string, error) {
		return "logout", "user " + username, "tokens ended / 令牌已作废", tx.RaiseTokenGen(ctx, id)
	})
}
