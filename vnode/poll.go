package vnode

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// pollBackend serves the Queue with stat polling: a poller finds changes,
// Go timers serve SetTimer, and wait blocks on a channel that both signal.
type pollBackend struct {
	p      *poller
	notify chan struct{} // capacity 1: "look again"
	done   chan struct{} // closed by close
	woken  atomic.Bool   // Wake was called: the next wait reports KindWake

	mu      sync.Mutex
	closed  bool
	nextID  ID
	ids     map[ID]*os.File // watches map to nil, followed files to their file
	closing []*os.File      // files of removed follows, closed at the next wait
	timers  map[ID]*pollTimer
	fired   []ID   // timers that fired, in order; stale entries are skipped
	gen     uint64 // arming generation, shared by all timers
}

// pollTimer is one armed (or fired, not yet delivered) timer.
type pollTimer struct {
	t     *time.Timer
	gen   uint64
	fired bool
}

func newPoll(o Options) (backend, error) {
	b := &pollBackend{
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		ids:    make(map[ID]*os.File),
		timers: make(map[ID]*pollTimer),
	}
	b.p = newPoller(o.PollInterval, b.signal)
	return b, nil
}

// signal makes a blocked (or the next) wait look for events again.
func (b *pollBackend) signal() {
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// wakeUp is Queue.Wake.
func (b *pollBackend) wakeUp() error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	b.woken.Store(true)
	b.signal()
	return nil
}

func (b *pollBackend) name() Backend { return Poll }

func (b *pollBackend) caps() Caps { return Caps{ChildNames: true, ChildWrites: true} }

// newID hands out the next watch ID; b.mu is held.
func (b *pollBackend) newID() ID {
	b.nextID++
	return b.nextID
}

func (b *pollBackend) watch(path string) (ID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrClosed
	}
	id := b.newID()
	if err := b.p.watch(id, path); err != nil {
		return 0, fmt.Errorf("vnode: %w", err)
	}
	b.ids[id] = nil
	return id, nil
}

func (b *pollBackend) follow(path string) (ID, *os.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, nil, ErrClosed
	}
	f, err := os.Open(path) // O_RDONLY|O_CLOEXEC
	if err != nil {
		return 0, nil, fmt.Errorf("vnode: follow: %w", err)
	}
	id := b.newID()
	if err := b.p.follow(id, f); err != nil {
		f.Close()
		return 0, nil, fmt.Errorf("vnode: %w", err)
	}
	b.ids[id] = f
	return id, f, nil
}

func (b *pollBackend) remove(id ID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	f, ok := b.ids[id]
	if !ok {
		return fmt.Errorf("vnode: remove %d: no such watch or followed file", id)
	}
	delete(b.ids, id)
	b.p.remove(id)
	if f != nil {
		// The caller may still be handling a batch that names this file.
		b.closing = append(b.closing, f)
	}
	return nil
}

func (b *pollBackend) setTimer(id ID, d time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if d < 0 {
		d = 0
	}
	tm := b.timers[id]
	if tm == nil {
		tm = &pollTimer{}
		b.timers[id] = tm
	} else {
		tm.t.Stop()
	}
	b.gen++
	gen := b.gen
	tm.gen, tm.fired = gen, false
	tm.t = time.AfterFunc(d, func() { b.fire(id, gen) })
	return nil
}

// fire records that timer id, armed as generation gen, expired; an expiry
// of an earlier arming is ignored.
func (b *pollBackend) fire(id ID, gen uint64) {
	b.mu.Lock()
	tm := b.timers[id]
	ok := tm != nil && tm.gen == gen && !b.closed
	if ok {
		tm.fired = true
		b.fired = append(b.fired, id)
	}
	b.mu.Unlock()
	if ok {
		b.signal()
	}
}

func (b *pollBackend) stopTimer(id ID) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if tm := b.timers[id]; tm != nil {
		tm.t.Stop()
		delete(b.timers, id)
	}
	return nil
}

func (b *pollBackend) wait(buf []Event) ([]Event, error) {
	buf = buf[:0]
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return buf, ErrClosed
		}
		for i, f := range b.closing {
			f.Close()
			b.closing[i] = nil
		}
		b.closing = b.closing[:0]
		buf = b.p.drain(buf)
		for _, id := range b.fired {
			if tm := b.timers[id]; tm != nil && tm.fired {
				delete(b.timers, id)
				buf = append(buf, Event{Kind: KindTimer, ID: id, Data: 1})
			}
		}
		b.fired = b.fired[:0]
		if b.woken.Swap(false) {
			buf = append(buf, Event{Kind: KindWake})
		}
		b.mu.Unlock()
		if len(buf) > 0 {
			return buf, nil
		}
		select {
		case <-b.notify:
		case <-b.done:
		}
	}
}

// drainNow scans every watch now and returns what is pending.
func (b *pollBackend) drainNow(buf []Event) ([]Event, error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return buf, ErrClosed
	}
	b.p.scanNow()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return buf, ErrClosed
	}
	return b.p.drain(buf), nil
}

func (b *pollBackend) close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	for _, tm := range b.timers {
		tm.t.Stop()
	}
	b.timers = nil
	files := b.closing
	for _, f := range b.ids {
		if f != nil {
			files = append(files, f)
		}
	}
	b.ids, b.closing = nil, nil
	b.mu.Unlock()

	// The poller's wake only signals a channel, so stopping it here cannot
	// deadlock with a scan in progress.
	b.p.close()
	for _, f := range files {
		f.Close()
	}
	return nil
}
