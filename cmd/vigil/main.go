// Command vigil watches files and acts when they change: it runs build and
// test commands, streams changes as JSON, waits for a change in CI, and
// follows growing log files like tail -F. See README.md for the manual.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
