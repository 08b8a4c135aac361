package config

// Starter is the commented vigil.yaml that "vigil init" writes. It is valid
// as it stands (one rule that reports what changed), and its commented-out
// Go, Node and log examples become valid rules when uncommented.
const Starter = `# vigil.yaml: what to run when files change.
# Paths are relative to this file's directory; durations are written 50ms, 1s, 2m.
# Check it with "vigil check"; run it with "vigil".

# Directories to watch.
watch: ["."]

# Globs (relative to a watched directory) to ignore on top of .gitignore and
# vigil's default ignores (VCS directories, editor swap files...).
ignore: []
# Set to false to ignore neither .gitignore nor the default ignores.
gitignore: true

# A batch of changes is handled once no change has come for debounce, or at
# the latest max_wait after its first change.
debounce: 50ms
max_wait: 1s

rules:
  # Each rule has a unique name, the globs it reacts to (default: every
  # change not ignored) and the shell command to run. The command gets the
  # changed paths in $VIGIL_PATHS, one per line.
  - name: changes
    match: ["**/*"]
    run: printf 'changed:\n%s\n' "$VIGIL_PATHS"
    run_at_start: false       # by default a rule also runs once at launch

  # Go: test on every change, then restart the server if the tests pass.
  # - name: test
  #   match: ["**/*.go", "go.mod", "go.sum"]
  #   run: go test ./...
  #   on_busy: restart        # queue (default) | restart | signal | ignore
  # - name: server
  #   match: ["**/*.go"]
  #   exclude: ["**/*_test.go"]
  #   run: go run ./cmd/server
  #   daemon: true            # long-running: started at launch, restarted on change
  #   after: [test]           # only once test succeeded for the same changes
  #   stop_signal: SIGTERM    # how to ask it to stop...
  #   stop_timeout: 10s       # ...and how long to wait before SIGKILL

  # Node: build with npm, restart the app on changes to its sources.
  # - name: build
  #   match: ["src/**/*.ts", "package.json"]
  #   run: npm run build
  #   timeout: 5m
  # - name: app
  #   match: ["dist/**/*.js"]
  #   run: node dist/index.js
  #   daemon: true
  #   clear: true             # clear the screen before each start

  # Logs: run a command for lines matching a Go regular expression.
  # - name: alert
  #   follow: ["logs/*.log"]
  #   line: "ERROR|panic:"
  #   run: 'echo "$VIGIL_FILE: $VIGIL_LINE"'   # quoted: ": " would start a mapping
`
