package app

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// jobKeep is how long a finished export job stays readable (and downloadable).
const jobKeep = time.Hour

// jobs is the in-memory registry of the API's background exports (DPIA evidence bundles,
// organisation exports): each job belongs to one organisation and is readable only by it;
// the runner updates its state under the registry's lock; finished jobs are forgotten after
// jobKeep, their drop function (say, removing a temporary file) called then.
type jobs[S any] struct {
	mu   sync.Mutex
	m    map[string]*job[S]
	drop func(S)
}

type job[S any] struct {
	org      string
	state    S
	finished time.Time
}

func newJobs[S any](drop func(S)) *jobs[S] { return &jobs[S]{m: map[string]*job[S]{}, drop: drop} }

// start registers a job of org with the state init(id) and returns its id, forgetting
// finished jobs older than jobKeep.
func (j *jobs[S]) start(org string, init func(id string) S) (string, S) {
	id := uuid.NewString()
	j.mu.Lock()
	defer j.mu.Unlock()
	for k, old := range j.m {
		if !old.finished.IsZero() && time.Since(old.finished) > jobKeep {
			delete(j.m, k)
			if j.drop != nil {
				j.drop(old.state)
			}
		}
	}
	st := init(id)
	j.m[id] = &job[S]{org: org, state: st}
	return id, st
}

// update changes a job's state; finish also marks it finished.
func (j *jobs[S]) update(id string, fn func(*S)) { j.change(id, fn, false) }

func (j *jobs[S]) finish(id string, fn func(*S)) { j.change(id, fn, true) }

func (j *jobs[S]) change(id string, fn func(*S), done bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if jb := j.m[id]; jb != nil {
		fn(&jb.state)
		if done {
			jb.finished = time.Now()
		}
	}
}

// get returns a copy of the state of org's job id; false for an unknown id or another
// organisation's job.
func (j *jobs[S]) get(org, id string) (S, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb := j.m[id]
	if jb == nil || jb.org != org {
		var zero S
		return zero, false
	}
	return jb.state, true
}
