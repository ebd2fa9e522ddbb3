package configstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// watchHistoryBytes bounds the memory of a store's watch history: a history of
// revisions that each rewrite a large document must not grow without limit.
const watchHistoryBytes = 64 << 20

// committed is one revision and its events, immutable once published.
type committed struct {
	rev    Revision
	events []Event
}

// hub keeps the recent history of a store in memory and serves Watch from it.
//
// Every watcher reads the shared history at its own pace instead of having events
// pushed into a per-watcher queue: a writer only appends and wakes watchers, so it
// never waits for a slow reader, and memory stays bounded by the history's limits
// (revisions and bytes).
// A watcher that falls behind the oldest retained revision is closed, which tells
// its reader to Range again — nothing is dropped silently.
type hub struct {
	mu       sync.Mutex
	limit    int           // most revisions retained
	maxBytes int64         // most bytes of keys and values retained
	floor    Revision      // revisions floor+1 … floor+len(history) are retained
	history  []committed   // contiguous, ascending
	bytes    int64         // committed.size of history
	changed  chan struct{} // closed and replaced on every publish
	closed   bool
	done     chan struct{} // closed by close
	wg       sync.WaitGroup
}

// newHub returns a hub whose next publish is revision current+1.
func newHub(current Revision, limit int) *hub {
	if limit <= 0 {
		limit = DefaultWatchHistory
	}
	return &hub{
		limit:    limit,
		maxBytes: watchHistoryBytes,
		floor:    current,
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// publish records revision rev. The caller holds its store's write lock, so
// revisions arrive in order, and has made events private to the hub.
func (h *hub) publish(rev Revision, events []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if want := h.floor + Revision(len(h.history)) + 1; rev != want {
		// Unreachable while stores publish under their write lock. Were it
		// reached, a gap would make watchers skip revisions: drop the history
		// instead, which closes every watcher and makes its reader Range again.
		h.history, h.bytes = nil, 0
		h.floor = rev - 1
	}
	c := committed{rev: rev, events: events}
	h.history = append(h.history, c)
	h.bytes += c.size()
	// Dropping from the front by reslicing never writes to an element a watcher
	// may be reading; the dropped ones are freed when append next reallocates, so
	// memory stays within about twice the bounds.
	for len(h.history) > 1 && (len(h.history) > h.limit || h.bytes > h.maxBytes) {
		h.bytes -= h.history[0].size()
		h.history = h.history[1:]
		h.floor++
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// size approximates the memory a revision holds, to bound the history.
func (c committed) size() int64 {
	n := int64(64)
	for _, e := range c.events {
		n += int64(len(e.KV.Key)+len(e.KV.Value)) + 64
	}
	return n
}

// since returns the retained revisions from next on, or, when there are none yet,
// a channel closed at the next publish.
func (h *hub) since(next Revision) ([]committed, <-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, nil, ErrClosed
	}
	if next-1 < h.floor {
		return nil, nil, ErrCompacted
	}
	if i := int(next - h.floor - 1); i < len(h.history) {
		// Appends write only beyond this slice's end and trimming reslices, so
		// the caller may read it without the lock.
		return h.history[i:], nil, nil
	}
	return nil, h.changed, nil
}

// watch starts a watcher; see Store.Watch for the contract.
func (h *hub) watch(ctx context.Context, prefix string, after Revision) (<-chan []Event, error) {
	if after < 0 {
		return nil, fmt.Errorf("watching from revision %d: negative revision", after)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, fmt.Errorf("watching from revision %d: %w", after, ErrClosed)
	}
	if after < h.floor {
		floor := h.floor
		h.mu.Unlock()
		return nil, fmt.Errorf("watching from revision %d (oldest available %d): %w", after, floor, ErrCompacted)
	}
	// Add under the lock that close takes first, so close's Wait sees every watcher.
	h.wg.Add(1)
	h.mu.Unlock()

	ch := make(chan []Event, 16)
	go h.serve(ctx, ch, prefix, after+1)
	return ch, nil
}

func (h *hub) serve(ctx context.Context, ch chan<- []Event, prefix string, next Revision) {
	defer h.wg.Done()
	defer close(ch)
	for {
		batch, wait, err := h.since(next)
		if err != nil {
			return
		}
		if batch == nil {
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return
			case <-h.done:
				return
			}
		}
		for _, c := range batch {
			next = c.rev + 1
			events := matching(c.events, prefix)
			if len(events) == 0 {
				continue
			}
			select {
			case ch <- events:
			case <-ctx.Done():
				return
			case <-h.done:
				return
			}
		}
	}
}

// matching copies the events under prefix: every watcher gets values of its own,
// as Get and Range callers do, so no reader can corrupt another's view.
func matching(events []Event, prefix string) []Event {
	var out []Event
	for _, e := range events {
		if !strings.HasPrefix(e.KV.Key, prefix) {
			continue
		}
		e.KV.Value = cloneNonNil(e.KV.Value)
		out = append(out, e)
	}
	return out
}

// close ends every watcher and waits for their goroutines.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.done)
	h.mu.Unlock()
	h.wg.Wait()
}
