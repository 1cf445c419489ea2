package main
import (
 _ "modernc.org/sqlite"
 _ "github.com/jackc/pgx/v5/pgxpool"
 _ "github.com/pressly/goose/v3"
 _ "go.bug.st/serial"
 _ "github.com/creack/pty"
 _ "golang.org/x/crypto/bcrypt"
)
func main(){}
