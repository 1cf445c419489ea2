package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen delivers the payloads of the notifications on channel (LISTEN)
// until ctx ends, then closes the returned channel. It holds a connection
// of its own, outside the pool. When that connection is lost it connects
// again (every second at most) and then delivers one empty payload: a
// notification may have been missed, so the receiver should look again.
// A receiver that falls behind loses payloads, never blocks the listener:
// notifications are wake-ups.
func (s *Store) Listen(ctx context.Context, channel string) (<-chan string, error) {
	conn, err := s.listen(ctx, channel)
	if err != nil {
		return nil, err
	}
	out := make(chan string, 64)
	go func() {
		defer close(out)
		for {
			for conn != nil {
				n, err := conn.WaitForNotification(ctx)
				if err != nil {
					cctx, cancel := context.WithTimeout(context.Background(), time.Second)
					conn.Close(cctx)
					cancel()
					conn = nil
					break
				}
				select {
				case out <- n.Payload:
				default:
				}
			}
			if ctx.Err() != nil {
				return
			}
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if conn, _ = s.listen(ctx, channel); conn != nil {
				select {
				case out <- "":
				default:
				}
			}
		}
	}()
	return out, nil
}

// listen opens a connection and listens on channel.
func (s *Store) listen(ctx context.Context, channel string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: listen: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("postgres: listen %s: %w", channel, err)
	}
	return conn, nil
}
