package ledger

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/arkiv/arkiv/ledger"
)

// PageSize is how many events VerifyLog reads at a time.
const PageSize = 4096

// VerifyGCPercent is the garbage collector's target (GOGC) that `arkiv audit verify` runs
// at unless GOGC is set: verification allocates per event and keeps little, so a larger
// heap between collections buys throughput for a few megabytes (as for rebuilds).
const VerifyGCPercent = 400

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
	// Hashing does not depend on earlier events: a second stage prepares each page on every
	// core while the verifier applies the one before.
	type prepared struct {
		ps   []ledger.Prepared
		last *Position
		err  error
	}
	ready := make(chan prepared, 1)
	go func() {
		defer close(ready)
		for p := range pages {
			out := prepared{ps: make([]ledger.Prepared, len(p.Entries)), last: p.Last, err: p.err}
			workers := min(runtime.GOMAXPROCS(0), max(1, len(p.Entries)/256))
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(p.Entries); i += workers {
						out.ps[i] = ledger.Prepare(p.Entries[i])
					}
				}()
			}
			wg.Wait()
			select {
			case ready <- out:
			case <-ctx.Done():
				return
			}
		}
	}()
	v := ledger.NewVerifier(opts)
	for p := range ready {
		if p.err != nil {
			return ledger.Report{}, p.err
		}
		for _, e := range p.ps {
			if err := v.AddPrepared(ctx, e); err != nil {
				var f *ledger.Failure
				if errors.As(err, &f) {
					return v.Finish(ctx)
				}
				return ledger.Report{}, err
			}
		}
		if progress != nil && p.last != nil {
			progress(p.last.Commit)
		}
	}
	return v.Finish(ctx)
}
