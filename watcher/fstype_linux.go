//go:build linux

package watcher

import "golang.org/x/sys/unix"

// Linux statfs(2) f_type magic numbers (linux/magic.h and the file
// systems' own sources).
var fsMagic = map[int64]string{
	0x6969:     "nfs",
	0x517B:     "smbfs",
	0xFF534D42: "cifs",
	0xFE534D42: "smb2",
	0x01021997: "9p",
	0x65735546: "fuse",
	0x00C36400: "ceph",
	0xEF53:     "ext4",
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x01021994: "tmpfs",
	0x794C7630: "overlay",
	0x2FC12FC1: "zfs",
}

// fsTypeName names the file system of path from its statfs magic number.
func fsTypeName(path string) string {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return ""
	}
	return fsMagic[int64(st.Type)&0xFFFFFFFF]
}
