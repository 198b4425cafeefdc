package evidence

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/ledger"
)

// verifyBatch is how many entries the verifier takes at a time.
const verifyBatch = 2048

// verifier runs the ledger's verification of the log alongside the fold: batches of entries
// are hashed on every core and applied in order in their own goroutine, so reading, folding
// and verifying overlap.
type verifier struct {
	ctx    context.Context
	cancel context.CancelFunc
	in     chan []ledger.Entry
	done   chan struct{}
	report ledger.Report
	err    error
}

func startVerifier(ctx context.Context, keys note.Verifiers) *verifier {
	ctx, cancel := context.WithCancel(ctx)
	v := &verifier{ctx: ctx, cancel: cancel, in: make(chan []ledger.Entry, 4), done: make(chan struct{})}
	go v.run(ledger.NewVerifier(ledger.Options{Keys: keys}))
	return v
}

func (v *verifier) run(lv *ledger.Verifier) {
	defer close(v.done)
	failed := false
	for b := range v.in {
		if failed || v.err != nil {
			continue // drain
		}
		ps := make([]ledger.Prepared, len(b))
		workers := min(runtime.GOMAXPROCS(0), max(1, len(b)/256))
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(b); i += workers {
					ps[i] = ledger.Prepare(b[i])
				}
			}()
		}
		wg.Wait()
		for _, p := range ps {
			if err := lv.AddPrepared(v.ctx, p); err != nil {
				var f *ledger.Failure
				if errors.As(err, &f) {
					failed = true
					break
				}
				v.err = err
				break
			}
		}
	}
	if v.err == nil {
		v.report, v.err = lv.Finish(v.ctx)
	}
}

// send hands a batch to the verifier.
func (v *verifier) send(b []ledger.Entry) error {
	if len(b) == 0 {
		return nil
	}
	select {
	case v.in <- b:
		return nil
	case <-v.ctx.Done():
		return v.ctx.Err()
	}
}

// finish waits for the verification of everything sent and returns its report.
func (v *verifier) finish() (ledger.Report, error) {
	close(v.in)
	<-v.done
	v.cancel()
	return v.report, v.err
}
