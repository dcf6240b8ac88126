package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jitbot/jitbot/policies"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config is everything jitbot reads from flags and the environment.
type Config struct {
	Policy string // JITBOT_POLICY, --policy
	// PolicyFrom says where Policy came from ("--policy", "JITBOT_POLICY",
	// "the default"), for the error when the file is not there.
	PolicyFrom string
	DB         string // JITBOT_DB, --db
	LogLevel   string // JITBOT_LOG_LEVEL, --log-level
	LogFormat  string // JITBOT_LOG_FORMAT, --log-format
	DryRun     bool   // JITBOT_DRY_RUN, --dry-run
	// Reconcile is the drift reconciliation interval (JITBOT_RECONCILE_INTERVAL).
	Reconcile time.Duration
	// LeaderLease is how long a PostgreSQL replica's leader lease runs
	// without renewal (JITBOT_LEADER_LEASE).
	LeaderLease time.Duration
	// SocketConnections is how many Socket Mode connections jitbot run
	// keeps open (JITBOT_SOCKET_CONNECTIONS, 1 to 10, default 2).
	SocketConnections int
	// Listen is where jitbot run serves /healthz, /readyz and /metrics
	// (JITBOT_LISTEN, --listen); empty: nowhere.
	Listen string
}

const (
	defaultPolicy = "policy.yaml"
	defaultDB     = "jitbot.db"
)

// Each command registers only the flags it uses; defaults come from the
// environment, so that flags override the environment.

// commonFlags registers the flags of jitbot run: policy, database, logs.
func (c *cli) commonFlags(fs *flag.FlagSet, cfg *Config) {
	c.policyFlag(fs, cfg)
	c.dbFlag(fs, cfg)
	fs.StringVar(&cfg.LogLevel, "log-level", c.env("JITBOT_LOG_LEVEL", "info"), "debug | info | warn | error (env JITBOT_LOG_LEVEL)")
	fs.StringVar(&cfg.LogFormat, "log-format", c.env("JITBOT_LOG_FORMAT", "json"), "json | console (env JITBOT_LOG_FORMAT)")
}

// policyFlag registers --policy.
func (c *cli) policyFlag(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Policy, "policy", c.env("JITBOT_POLICY", defaultPolicy), "policy `FILE` (env JITBOT_POLICY)")
}

// dbFlag registers --db.
func (c *cli) dbFlag(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.DB, "db", c.env("JITBOT_DB", defaultDB), "SQLite database `FILE`, or a postgres:// URL (env JITBOT_DB)")
}

// policyFrom says where the --policy value of fs came from.
func (c *cli) policyFrom(fs *flag.FlagSet) string {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "policy" })
	switch {
	case set:
		return "--policy"
	case c.getenv("JITBOT_POLICY") != "":
		return "JITBOT_POLICY"
	}
	return "the default"
}

// loadPolicy loads the policy a command needs. A missing file says which
// file was looked for, where that name came from, and how to name another.
func loadPolicy(path, from string) (*policies.Policy, error) {
	p, err := policies.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		abs, aerr := filepath.Abs(path)
		if aerr != nil {
			abs = path
		}
		if from == "" {
			from = "--policy"
		}
		return nil, fmt.Errorf("no policy file at %s (from %s); name another with --policy FILE or JITBOT_POLICY", abs, from)
	}
	return p, err
}

func (c *cli) env(key, def string) string {
	if v := c.getenv(key); v != "" {
		return v
	}
	return def
}

// parse parses args with fs, allowing at most maxArgs positional
// arguments; it prints errors and help itself and returns the exit code to
// stop with, or -1 to go on.
func (c *cli) parse(fs *flag.FlagSet, args []string, synopsis string, maxArgs int) int {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(interleave(fs, args))
	if err == flag.ErrHelp {
		c.printHelp(fs, synopsis)
		return exitOK
	}
	if err == nil && fs.NArg() > maxArgs {
		extra := fs.Args()[maxArgs:]
		switch maxArgs {
		case 0:
			err = fmt.Errorf("jitbot %s takes no arguments, got %q", fs.Name(), strings.Join(extra, " "))
		default:
			err = fmt.Errorf("jitbot %s: unexpected argument %q", fs.Name(), strings.Join(extra, " "))
		}
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "jitbot: %v\n", err)
		c.printHelpTo(c.stderr, fs, synopsis)
		return exitUsage
	}
	return -1
}

func (c *cli) printHelp(fs *flag.FlagSet, synopsis string) { c.printHelpTo(c.stdout, fs, synopsis) }

func (c *cli) printHelpTo(w io.Writer, fs *flag.FlagSet, synopsis string) {
	fmt.Fprintf(w, "Usage: %s\n", synopsis)
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// interleave moves flags after positional arguments to the front, so that
// `jitbot grants revoke ID --reason x` works as people type it.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(flags, pos...)
}

// logger builds the zap logger the configuration asks for.
func (cfg *Config) logger(w io.Writer) (*zap.Logger, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: expected debug, info, warn or error", cfg.LogLevel)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	switch cfg.LogFormat {
	case "json":
		encoder = zapcore.NewJSONEncoder(enc)
	case "console":
		encoder = zapcore.NewConsoleEncoder(enc)
	default:
		return nil, fmt.Errorf("log format %q: expected json or console", cfg.LogFormat)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.AddSync(w), level)), nil
}

// openDB opens the database for a CLI command: read-only for the read
// commands (never creating or migrating it), read-write for the others.
// Either way a SQLite database must exist: only jitbot run creates one.
func (cfg *Config) openDB(ctx context.Context, readOnly bool) (database, error) {
	return openDatabase(ctx, cfg.DB, dbOptions{readOnly: readOnly})
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// badFormat returns the usage message for a --format value not in allowed,
// or "" when it is one of them.
func badFormat(format string, allowed ...string) string {
	if slices.Contains(allowed, format) {
		return ""
	}
	last := len(allowed) - 1
	return fmt.Sprintf("--format %q: expected %s or %s", format, strings.Join(allowed[:last], ", "), allowed[last])
}
