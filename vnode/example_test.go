package vnode_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-watch/vigil/vnode"
)

// Example watches a file and waits for the write that follows. One Wait
// returns every kind of event: here a timer bounds the wait, the way a
// caller implements a deadline without a second goroutine.
func Example() {
	dir, err := os.MkdirTemp("", "vnode-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "app.conf")
	os.WriteFile(path, []byte("a=1\n"), 0o644)

	q, err := vnode.Open(vnode.Options{}) // the platform's best backend
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	id, err := q.Watch(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	const deadline vnode.ID = 1 // timer IDs are the caller's own
	q.SetTimer(deadline, 10*time.Second)

	os.WriteFile(path, []byte("a=2\n"), 0o644)
	var buf []vnode.Event
	for {
		evs, err := q.Wait(buf[:0])
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, ev := range evs {
			switch {
			case ev.Kind == vnode.KindTimer && ev.ID == deadline:
				fmt.Println("no write within 10s")
				return
			case ev.Kind == vnode.KindNote && ev.ID == id && ev.Notes&vnode.NoteWrite != 0:
				fmt.Println("app.conf was written")
				return
			}
		}
		buf = evs
	}
	// Output: app.conf was written
}

// ExampleQueue_SetTimer shows a timer alone: one-shot, delivered through
// Wait like any other event.
func ExampleQueue_SetTimer() {
	q, err := vnode.Open(vnode.Options{Backend: vnode.Poll})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	q.SetTimer(7, 5*time.Millisecond)
	evs, err := q.Wait(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ev := range evs {
		fmt.Println(ev.Kind, ev.ID)
	}
	// Output: timer 7
}
