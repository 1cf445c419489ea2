package billing

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/amigo-metering/amigo"
)

// Scheduler runs billing by itself: every site-local day, once the night's
// freezes are in (After past midnight, default 02:00), it runs each site's
// previous cycle — the accounts whose billing day has come are billed, the
// others are left for their day, held bills are priced again. A day's run
// is recorded in the state store ("billing/<site>/<day>") only once it
// ended, so a station stopped mid-run resumes it at its next tick.
type Scheduler struct {
	Runner *Runner
	Now    func() time.Time
	// Sleep waits d of station time (vclock's Sleep); nil: time.Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	After time.Duration // past site midnight (default 2 h)
	Every time.Duration // between ticks (default 5 min)
	Log   *slog.Logger
	// Print, when set, is given each run the scheduler finished, to queue
	// its issued bills for printing (printing.BillPrinter.PrintRun; the
	// station's "print_bills"). The day counts as done only once Print
	// returned: a run whose printing failed is printed at the next tick
	// (the day's state names the run meanwhile, "print <run id>").
	Print func(ctx context.Context, run amigo.BillingRun) error
}

// Tick runs what is due now and returns the runs it finished.
func (s *Scheduler) Tick(ctx context.Context) ([]amigo.BillingRun, error) {
	st := s.Runner.Store
	sites, err := st.ListSites(ctx)
	if err != nil {
		return nil, fmt.Errorf("billing schedule: %w", err)
	}
	after := s.After
	if after <= 0 {
		after = 2 * time.Hour
	}
	var done []amigo.BillingRun
	for _, site := range sites {
		loc := site.Location()
		now := s.Now().In(loc)
		day := amigo.Day(now, loc)
		if now.Sub(day) < after {
			continue
		}
		key := fmt.Sprintf("billing/%d/%s", site.ID, day.Format(time.DateOnly))
		state, ok, err := st.GetState(ctx, key)
		if err != nil {
			return done, fmt.Errorf("billing schedule: %w", err)
		}
		var printID int64
		if ok {
			id, isPrint := strings.CutPrefix(state, "print ")
			if !isPrint {
				continue
			}
			if printID, err = strconv.ParseInt(id, 10, 64); err != nil {
				return done, fmt.Errorf("billing schedule: state %s = %q: %w", key, state, err)
			}
		}
		if printID == 0 {
			n, err := st.CountBillingAccounts(ctx, site.ID)
			if err != nil {
				return done, fmt.Errorf("billing schedule: %w", err)
			}
			if n > 0 {
				cycle := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, loc).Format("2006-01")
				r, err := s.Runner.Run(ctx, site.ID, cycle, "system")
				if err != nil {
					return done, fmt.Errorf("billing schedule: site %d cycle %s: %w", site.ID, cycle, err)
				}
				done = append(done, r)
				if s.Print != nil && r.Issued > 0 {
					printID = r.ID
					if err := st.PutState(ctx, key, fmt.Sprintf("print %d", r.ID), s.Now()); err != nil {
						return done, fmt.Errorf("billing schedule: %w", err)
					}
				}
			}
		}
		if printID != 0 && s.Print != nil {
			r, err := st.GetBillingRun(ctx, printID)
			if err != nil {
				return done, fmt.Errorf("billing schedule: run %d to print: %w", printID, err)
			}
			if err := s.Print(ctx, r); err != nil {
				return done, fmt.Errorf("billing schedule: printing the bills of run %d: %w", r.ID, err)
			}
			if s.Log != nil {
				s.Log.Info("billing run's bills queued for printing / 账单已送打印", "run", r.ID, "site", site.ID, "cycle", r.Cycle)
			}
		}
		if err := st.PutState(ctx, key, "done", s.Now()); err != nil {
			return done, fmt.Errorf("billing schedule: %w", err)
		}
	}
	return done, nil
}

// Loop ticks until ctx ends.
func (s *Scheduler) Loop(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = 5 * time.Minute
	}
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil && s.Log != nil {
			s.Log.Error("billing schedule / 自动计费", "err", err)
		}
		var err error
		if s.Sleep != nil {
			err = s.Sleep(ctx, every)
		} else {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(every):
			}
		}
		if err != nil || ctx.Err() != nil {
			return
		}
	}
}
