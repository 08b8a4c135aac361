package follow_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"vigil/watcher/follow"
)

// Example wires a Follower to a Printer the way `vigil tail` does: headers
// when several files are followed, notices and "ready" on stderr, and Run's
// error (EPIPE when the reader of stdout is gone) as the outcome.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	patterns := []string{"/var/log/app/*.log"}
	f, err := follow.New(follow.Options{
		Patterns: patterns,
		Last:     10,
		Logf:     func(format string, args ...any) { fmt.Fprintf(os.Stderr, "vigil: "+format+"\n", args...) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	p := follow.NewPrinter(os.Stdout, false, true)
	err = f.Run(ctx, func() { fmt.Fprintln(os.Stderr, "ready") }, p.Print)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
