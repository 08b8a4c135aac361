//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package main

import "os"

// charMode: no keys where there are no termios.
func charMode(*os.File) (func(), bool) { return nil, false }
