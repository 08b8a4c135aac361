package watcher

import "sync/atomic"

// dirFD is a directory's descriptor kept open after its listing, so that
// snapshot workers stat its entries relative to it (fstatat) instead of
// walking each full path again. The crawl holds one reference while it
// adds the listing, each entry handed to a worker one more; the last
// release closes it.
type dirFD struct {
	fd   int
	refs atomic.Int32
	open *atomic.Int32 // the run's count of descriptors kept
}

// maxDirFDs bounds the descriptors a snapshot keeps at once: beyond it a
// listing's descriptor is closed at once and its entries go by path, so a
// tree of many small directories never runs out of descriptors.
const maxDirFDs = 256

func (d *dirFD) hold() { d.refs.Add(1) }

func (d *dirFD) release() {
	if d.refs.Add(-1) == 0 {
		closeFD(d.fd)
		d.open.Add(-1)
	}
}
