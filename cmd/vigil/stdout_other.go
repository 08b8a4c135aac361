//go:build !unix

package main

import "io"

// readerGone cannot tell here; the next write's error ends vigil tail.
func readerGone(io.Writer) bool { return false }

// stdoutOpen cannot tell here; the first write's error ends vigil tail.
func stdoutOpen(io.Writer) error { return nil }
