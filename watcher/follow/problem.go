package follow

import "fmt"

// Problem is trouble with one followed name that does not stop Run: a file
// or directory that cannot be opened, listed or watched, or a name that is
// missing or not a regular file. The follower retries (at least once a
// second) and reports a problem once, until it changes. [Options].OnError
// receives it; use errors.As to get it.
type Problem struct {
	Path string // absolute
	// What says what could not be done: "not found", "not a regular file",
	// "cannot watch this directory", "cannot list this directory",
	// "cannot open".
	What string
	Err  error // the cause, if any
}

// Error names the absolute path, what could not be done and why.
func (p *Problem) Error() string {
	if p.Err != nil {
		return fmt.Sprintf("%s: %s: %v", p.Path, p.What, p.Err)
	}
	return fmt.Sprintf("%s: %s", p.Path, p.What)
}

// Unwrap returns the cause.
func (p *Problem) Unwrap() error { return p.Err }
