package watcher

import "strings"

// Network and user-space file systems. Kernel notification only sees the
// changes made through this machine's kernel: a file changed on the NFS
// server or by another client, or behind a FUSE file system's back, raises
// no inotify or kqueue event. Roots on them are polled instead, unless the
// caller chose a backend (Options.Backend other than auto).

// remoteNames are the f_fstypename values (and the names fsTypeName gives
// Linux magic numbers) of file systems to poll.
var remoteNames = []string{"nfs", "nfs4", "smbfs", "cifs", "smb2", "9p", "fuse", "fusefs", "macfuse", "osxfuse", "ceph", "afpfs", "webdav"}

// RemoteFS reports the file system path lives on and whether it is one
// whose changes kernel notification can miss (NFS, CIFS/SMB, 9p, FUSE,
// Ceph), so that it should be polled.
func RemoteFS(path string) (name string, remote bool) {
	name = fsTypeName(path)
	return name, isRemote(name)
}

// isRemote says whether the file system named name is one to poll.
func isRemote(name string) bool {
	base, _, _ := strings.Cut(name, ".") // "fuse.sshfs" is FUSE
	for _, r := range remoteNames {
		if base == r {
			return true
		}
	}
	return false
}
