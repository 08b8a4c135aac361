//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

type tailResult struct {
	Tool    string  `json:"tool"`
	Version string  `json:"version"`
	MB      float64 `json:"mb"` // per round
	Rounds  int     `json:"rounds"`
	// MBPerSec and CPUSecPer100 are the medians over the rounds.
	MBPerSec       float64        `json:"mb_per_s"`
	RoundsMBPerSec []float64      `json:"rounds_mb_per_s"`
	CPUSecPer100   float64        `json:"cpu_s_per_100mb"`
	Received       int64          `json:"received_bytes"`
	Latency        *latencyResult `json:"latency,omitempty"`
	Error          string         `json:"error,omitempty"`
}

// tailReader counts what the follower prints and reports latency marks.
type tailReader struct {
	bytes atomic.Int64
	marks chan mark // each "lat N" line, as soon as it is read
}

type mark struct {
	n  int
	ts int64
}

func (r *tailReader) run(f *os.File) {
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		r.bytes.Add(int64(len(line)))
		if bytes.HasPrefix(line, []byte("lat ")) {
			now := time.Now().UnixNano()
			if n, err := strconv.Atoi(string(bytes.TrimSpace(line[4:]))); err == nil {
				select {
				case r.marks <- mark{n, now}:
				default:
				}
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// settleDisk writes back every dirty page and waits for it (sync(2)), so
// that a measurement does not pay for the writes of the one before.
func settleDisk() { syscall.Sync() }

// tailRounds is how many times the throughput of a follower is measured.
const tailRounds = 5

// runTail follows an empty file with script (which gets the file as $1),
// measures append-to-output latency, then writes mb megabytes of 100-byte
// lines as fast as possible and measures throughput and CPU.
func (b *bench) runTail(name, version, script string, mb int) *tailResult {
	res := &tailResult{Tool: name, Version: version}
	dir := filepath.Join(b.work, "tail", name)
	os.RemoveAll(dir)
	// Each follower starts on a disk with nothing left to write back: the
	// rounds of the one before leave hundreds of megabytes dirty, and
	// writing them back slowed the next follower's writer by half.
	settleDisk()
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		res.Error = err.Error()
		return res
	}
	file := filepath.Join(dir, "app.log")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		res.Error = err.Error()
		return res
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	p, err := startProc(name, script+" "+q(file), dir, filepath.Join(dir, "log"), []string{"PATH=" + b.path}, pw)
	pw.Close()
	if err != nil {
		pr.Close()
		res.Error = err.Error()
		return res
	}
	rd := &tailReader{marks: make(chan mark, 64)}
	go rd.run(pr)
	defer func() {
		p.stop(3 * time.Second)
		pr.Close()
	}()
	w, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	defer w.Close()

	// Ready: append a mark every 20 ms until one comes out.
	deadline := time.Now().Add(30 * time.Second)
	ready := false
	for i := 0; !ready && time.Now().Before(deadline) && p.alive(); i++ {
		w.WriteString(fmt.Sprintf("lat %d\n", -1-i))
		select {
		case <-rd.marks:
			ready = true
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !ready {
		res.Error = fmt.Sprintf("%s printed nothing within 30 s: %s", name, tailOf(filepath.Join(dir, "log")))
		return res
	}
	// Let marks from the ready loop drain.
	for drained := false; !drained; {
		select {
		case <-rd.marks:
		case <-time.After(200 * time.Millisecond):
			drained = true
		}
	}

	lat := []float64{}
	res.Latency = &latencyResult{Samples: b.samples}
	for i := 0; i < b.samples; i++ {
		t := time.Now().UnixNano()
		if _, err := w.WriteString(fmt.Sprintf("lat %d\n", i)); err != nil {
			res.Error = err.Error()
			return res
		}
		got := false
		for !got {
			select {
			case m := <-rd.marks:
				if m.n == i {
					lat = append(lat, float64(m.ts-t)/1e6)
					got = true
				}
			case <-time.After(5 * time.Second):
				res.Latency.Missed++
				got = true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	sort.Float64s(lat)
	res.Latency.P50MS, res.Latency.P90MS = percentile(lat, 0.5), percentile(lat, 0.9)
	if len(lat) > 0 {
		res.Latency.MaxMS = lat[len(lat)-1]
	}

	// Throughput: 100-byte lines in 1 MiB writes, as fast as the disk
	// takes them, in tailRounds rounds of mb megabytes; the medians are
	// reported (one round of 20 MB lasts tens of milliseconds, within the
	// noise of a shared machine).
	line := bytes.Repeat([]byte("x"), 99)
	line = append(line, '\n')
	chunk := bytes.Repeat(line, (1<<20)/len(line))
	total := int64(mb) << 20
	total -= total % int64(len(chunk))
	var rates, cpus []float64
	for round := 0; round < tailRounds; round++ {
		base := rd.bytes.Load()
		c0 := p.cpuNS()
		start := time.Now()
		for written := int64(0); written < total; written += int64(len(chunk)) {
			if _, err := w.Write(chunk); err != nil {
				res.Error = err.Error()
				return res
			}
		}
		end := time.Now().Add(b.tailTimeout)
		for rd.bytes.Load()-base < total && time.Now().Before(end) && p.alive() {
			time.Sleep(time.Millisecond)
		}
		el := time.Since(start)
		c1 := p.cpuNS()
		got := rd.bytes.Load() - base
		res.Received += got
		if got < total {
			res.Error = fmt.Sprintf("round %d: only %d of %d bytes came out within %v", round+1, got, total, b.tailTimeout)
			break
		}
		rates = append(rates, float64(got)/(1<<20)/el.Seconds())
		cpus = append(cpus, float64(c1-c0)/1e9/(float64(got)/(100<<20)))
	}
	res.MB = float64(total) / (1 << 20)
	res.Rounds = len(rates)
	res.RoundsMBPerSec = rates
	res.MBPerSec, res.CPUSecPer100 = median(rates), median(cpus)
	return res
}
