package main

import "github.com/vigil-watch/vigil/runner"

// becomeSubreaper makes vigil the parent of the orphans its commands leave
// and reaps them all (Linux; see runner.AdoptOrphans for why and for the
// other systems). Failure only loses that: orphans then go to init.
func becomeSubreaper() {
	_ = runner.AdoptOrphans()
}
