//go:build !unix

package follow

import "io/fs"

// identOf cannot name a file by inode on this platform; the caller falls
// back to comparing names and fingerprints.
func identOf(fi fs.FileInfo) (ident, bool) { return ident{}, false }
