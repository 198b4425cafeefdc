package esdbserver

import (
	"sync"
	"sync/atomic"
)

// hub wakes live subscribers in-process when a group commit lands. Publishing never blocks:
// a listener whose buffer is full is dropped and told so, and falls back to reading the
// store until it has caught up again. The writer stores the new head before publishing, so a
// listener registered before it reads head h receives every event after h.
type hub struct {
	mu        sync.Mutex
	listeners map[*listener]struct{}
	head      atomic.Int64 // highest committed position
}

// listener receives committed batches in commit order.
type listener struct {
	ch      chan []*record
	dropped chan struct{} // closed when the buffer overflowed or the hub closed
}

func newHub(head int64) *hub {
	h := &hub{listeners: map[*listener]struct{}{}}
	h.head.Store(head)
	return h
}

// listen registers a listener with room for size batches.
func (h *hub) listen(size int) *listener {
	l := &listener{ch: make(chan []*record, size), dropped: make(chan struct{})}
	h.mu.Lock()
	h.listeners[l] = struct{}{}
	h.mu.Unlock()
	return l
}

// unlisten removes l; it is safe to call more than once.
func (h *hub) unlisten(l *listener) {
	h.mu.Lock()
	delete(h.listeners, l)
	h.mu.Unlock()
}

// publish records the new head and hands batch to every listener.
func (h *hub) publish(batch []*record) {
	if len(batch) == 0 {
		return
	}
	h.head.Store(batch[len(batch)-1].pos)
	h.mu.Lock()
	for l := range h.listeners {
		select {
		case l.ch <- batch:
		default:
			delete(h.listeners, l)
			close(l.dropped)
		}
	}
	h.mu.Unlock()
}

// close drops every listener.
func (h *hub) close() {
	h.mu.Lock()
	for l := range h.listeners {
		delete(h.listeners, l)
		close(l.dropped)
	}
	h.mu.Unlock()
}
