package ledger

import (
	"context"
	"errors"

	"github.com/arkiv/arkiv/ledger"
)

// PageSize is how many events VerifyLog reads at a time.
const PageSize = 4096

// VerifyLog verifies the whole log read through log, from its start to its end, and
// returns the report (Report.Failure names the first failure). Reading the next page
// overlaps verifying the current one. progress, when set, gets the position of each
// verified page's last event.
func VerifyLog(ctx context.Context, log LogReader, opts ledger.Options, progress func(position uint64)) (ledger.Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		Page
		err error
	}
	pages := make(chan page, 2)
	go func() {
		defer close(pages)
		var after *Position
		for {
			pg, err := log.ReadPage(ctx, after, PageSize)
			select {
			case pages <- page{pg, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || pg.End || pg.Last == nil {
				return
			}
			after = pg.Last
		}
	}()
	v := ledger.NewVerifier(opts)
	for p := range pages {
		if p.err != nil {
			return ledger.Report{}, p.err
		}
		for _, e := range p.Entries {
			if err := v.Add(ctx, e); err != nil {
				var f *ledger.Failure
				if errors.As(err, &f) {
					return v.Finish(ctx)
				}
				return ledger.Report{}, err
			}
		}
		if progress != nil && p.Last != nil {
			progress(p.Last.Commit)
		}
	}
	return v.Finish(ctx)
}
