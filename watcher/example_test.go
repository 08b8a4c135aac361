package watcher_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-watch/vigil/watcher"
)

// Example watches a tree for Go files and prints the first batch of
// changes. Run sends each batch on out once the debounce policy closes it;
// ready says when the watches are in place, so that nothing done after it
// is missed.
func Example() {
	dir, err := os.MkdirTemp("", "watcher-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	w, err := watcher.New(watcher.Options{
		Roots:   []string{dir},
		Include: []string{"**/*.go"},
		OnError: func(err error) { fmt.Fprintln(os.Stderr, err) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	out := make(chan watcher.Batch)
	go w.Run(ctx, func(watcher.Stats) { close(ready) }, out)
	<-ready

	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not Go\n"), 0o644)
	b := <-out
	for _, c := range b.Changes {
		fmt.Println(c.Op, filepath.Base(c.Path))
	}
	// Output: create main.go
}

// ExampleCompileGlob shows the glob dialect every package of vigil shares:
// patterns relative to a root, a leading "./" dropped, a trailing "/"
// meaning everything below, "**/" matching zero or more directories.
func ExampleCompileGlob() {
	for _, p := range []string{"./src/**", "src/", "**/*.go"} {
		g, err := watcher.CompileGlob(p)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-9s as %-8s src/a/b.c:%v main.go:%v\n", p, g, g.Match("src/a/b.c"), g.Match("main.go"))
	}
	_, err := watcher.CompileGlob("/abs/*.go")
	fmt.Println(err)
	// Output:
	// ./src/**  as src/**   src/a/b.c:true main.go:false
	// src/      as src/**   src/a/b.c:true main.go:false
	// **/*.go   as **/*.go  src/a/b.c:false main.go:true
	// "/abs/*.go" is absolute; patterns are relative to the watched directories
}

// ExampleNotice shows how a library user tells the problems Run reports
// without stopping apart: each is a *Notice with a Kind.
func ExampleNotice() {
	onError := func(err error) {
		var n *watcher.Notice
		if errors.As(err, &n) && n.Kind == watcher.RootRemoved {
			fmt.Println("root gone, waiting:", n.Path)
			return
		}
		fmt.Println(err)
	}
	onError(&watcher.Notice{Kind: watcher.RootRemoved, Path: "/srv/site"})
	onError(&watcher.Notice{Kind: watcher.RootBack, Path: "/srv/site"})
	// Output:
	// root gone, waiting: /srv/site
	// watcher: /srv/site is back; watching it again
}
