package store

import (
	"context"
	"sync"
)

// watchers fans store revisions out to Watch channels. Each channel has a
// buffer of one and is coalesced: a slow reader finds only the newest
// revision. Revisions never go backwards on a channel, because notify drops
// anything not newer than what it last sent; that matters for Etcd, where a
// revision can be reported twice (by the committing call and again by the
// etcd watch) and events from other replicas can arrive after a newer local
// commit was reported.
type watchers struct {
	mu     sync.Mutex
	subs   map[chan Revision]struct{}
	last   Revision
	closed bool
	done   chan struct{} // closed by close; ends the per-channel goroutines
}

func newWatchers() *watchers {
	return &watchers{subs: map[chan Revision]struct{}{}, done: make(chan struct{})}
}

// add returns a channel that receives revisions newer than any notified
// before the call, until ctx ends or close is called.
func (w *watchers) add(ctx context.Context) <-chan Revision {
	ch := make(chan Revision, 1)
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		close(ch)
		return ch
	}
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-w.done:
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.subs[ch]; ok {
			delete(w.subs, ch)
			close(ch)
		}
	}()
	return ch
}

// notify sends rev to every channel unless it is not newer than the last
// revision sent.
func (w *watchers) notify(rev Revision) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rev <= w.last {
		return
	}
	w.last = rev
	for ch := range w.subs {
		select {
		case ch <- rev:
		default:
			// Coalesce: replace the unread older revision by the newest.
			select {
			case <-ch:
			default:
			}
			ch <- rev // cannot block: we hold mu and the buffer is empty
		}
	}
}

// close closes every channel; later add calls return closed channels.
func (w *watchers) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	close(w.done)
	for ch := range w.subs {
		close(ch)
	}
	clear(w.subs)
}
