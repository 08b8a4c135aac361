//go:build !unix

package runner

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// On systems without process groups the runner compiles but starts nothing.

type proc struct {
	pid    int
	exited chan struct{}
	state  *os.ProcessState
}

var errNoGroups = fmt.Errorf("runner: process groups: %w", errors.ErrUnsupported)

// AdoptOrphans is not supported here.
func AdoptOrphans() error { return errNoGroups }

func startProc(procSpec, <-chan struct{}) (*proc, error) { return nil, errNoGroups }

func (p *proc) signal(syscall.Signal) error                           { return errNoGroups }
func (p *proc) groupAlive() bool                                      { return false }
func (p *proc) stop(syscall.Signal, time.Duration, func() bool) error { return errNoGroups }
func (p *proc) finishOutput()                                         {}
func (p *proc) exitStatus() (int, string)                             { return 1, errNoGroups.Error() }

func signalName(sig syscall.Signal) string { return sig.String() }

type groupSet struct{}

func (g *groupSet) remove(int)     {}
func (g *groupSet) killAll()       {}
func (g *groupSet) isKilled() bool { return false }

func startStatus(error) int { return 126 }
