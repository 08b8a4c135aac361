package main

import (
	"os"
	"strings"

	"github.com/vigil-watch/vigil/watcher"
)

// ownOutputs names vigil's stdout and stderr by identity when they are
// regular files, for watcher.Options.IgnoreFiles: `vigil -- make > build.log`
// run inside the watched tree would otherwise trigger a run with every run's
// output, for ever.
func ownOutputs() map[watcher.FileID]string {
	names := map[watcher.FileID][]string{}
	var order []watcher.FileID
	for _, o := range []struct {
		f    *os.File
		name string
	}{{os.Stdout, "stdout"}, {os.Stderr, "stderr"}} {
		fi, err := o.f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if id, ok := watcher.IDOf(fi); ok {
			if names[id] == nil {
				order = append(order, id)
			}
			names[id] = append(names[id], o.name)
		}
	}
	ids := map[watcher.FileID]string{}
	for _, id := range order {
		ids[id] = "it is vigil's own " + strings.Join(names[id], " and ")
	}
	return ids
}
