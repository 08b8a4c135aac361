package watcher

import "errors"

// errNotRegular and errTooLarge are why readRegular read nothing.
var (
	errNotRegular = errors.New("not a regular file")
	errTooLarge   = errors.New("larger than the cap")
)
