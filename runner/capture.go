package runner

import "sync"

// captureMax bounds the output kept of one run, for [ReloadEvent.Output]:
// the end of the output is what explains a failure.
const captureMax = 64 << 10

// tailBuf keeps the last captureMax bytes written to it, whole lines where
// it can. A nil *tailBuf drops everything.
type tailBuf struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuf) write(line []byte) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, line...)
	if len(line) > 0 && line[len(line)-1] != '\n' {
		t.buf = append(t.buf, '\n')
	}
	if over := len(t.buf) - captureMax; over > 0 {
		t.buf = append(t.buf[:0:0], t.buf[over:]...)
	}
}

func (t *tailBuf) String() string {
	if t == nil {
		return ""
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
