package follow_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/vigil-watch/vigil/watcher/follow"
)

// Example wires a Follower to a Printer the way `vigil tail` does: headers
// when several files are followed, notices and "ready" on stderr, and Run's
// error (EPIPE when the reader of stdout is gone) as the outcome.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	patterns := []string{"/var/log/app/*.log"}
	// Buffered, flushed when the follower has read all there was, and fed
	// whole runs of lines straight from the read buffer.
	p := follow.NewPrinter(os.Stdout, follow.PrintOptions{Headers: true, Buffered: true})
	f, err := follow.New(follow.Options{
		Patterns: patterns,
		Last:     10,
		Logf:     func(format string, args ...any) { fmt.Fprintf(os.Stderr, "vigil: "+format+"\n", args...) },
		Flush:    p.Flush,
		Chunks:   p.PrintChunk,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	err = f.Run(ctx, func() { fmt.Fprintln(os.Stderr, "ready") }, p.Print)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
