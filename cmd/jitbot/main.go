// Command jitbot is a chat-first just-in-time access bot for Atlassian
// Cloud: `jitbot run` starts the bot; the other commands check the policy,
// list and revoke grants, and export evidence.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1 // the command ran and found a problem (invalid policy, broken chain)
	exitUsage    = 2
	exitInternal = 3
)

const usage = `jitbot — just-in-time access to Atlassian Cloud, from Slack.

Usage:
  jitbot run [flags]                       start the bot (Slack Socket Mode)
  jitbot policy check FILE [--online]      validate a policy file
  jitbot policy explain --requester EMAIL --resource ID [--duration D]
                                           show which rule applies and who approves
  jitbot policy explain --user EMAIL       which licence review rule covers a person
  jitbot grants list [--active] [--json]   list grants
  jitbot grants revoke ID --reason TEXT    revoke a grant now
  jitbot audit verify|export|anchor        check and export the audit trail
  jitbot report access|person              who had access, and why
  jitbot activity sync|show                last-active dates from the Atlassian directory
  jitbot review list|run|runs|report       licence reviews: rules, runs, outcomes
  jitbot users restore EMAIL               restore a suspended person's access
  jitbot version                           print the version

Run 'jitbot COMMAND --help' for a command's flags. Every flag can also be set
in the environment (see README.md): flags win over the environment.
`

// Run runs the jitbot command line and returns the exit code. It is what
// main calls, and what end-to-end tests call in-process.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	env := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "--version":
		fmt.Fprintf(stdout, "jitbot %s\n", Version)
		return exitOK
	case "run":
		return env.run(args[1:])
	case "policy":
		return env.sub("policy", args[1:], map[string]func([]string) int{"check": env.policyCheck, "explain": env.policyExplain})
	case "grants":
		return env.sub("grants", args[1:], map[string]func([]string) int{"list": env.grantsList, "revoke": env.grantsRevoke})
	default:
		if h, ok := extraCommands[args[0]]; ok {
			return h(env, args[1:])
		}
		fmt.Fprintf(stderr, "jitbot: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}

// extraCommands lets other files register top-level commands (audit, report).
var extraCommands = map[string]func(c *cli, args []string) int{}

// cli carries a command's streams and environment.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func (c *cli) sub(name string, args []string, cmds map[string]func([]string) int) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintf(c.stdout, "Usage: jitbot %s COMMAND\n\nCommands:\n", name)
		for _, k := range sortedKeys(cmds) {
			fmt.Fprintf(c.stdout, "  %s\n", k)
		}
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	h, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(c.stderr, "jitbot %s: unknown command %q (try --help)\n", name, args[0])
		return exitUsage
	}
	return h(args[1:])
}

func (c *cli) fail(code int, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "jitbot: "+format+"\n", args...)
	return code
}
