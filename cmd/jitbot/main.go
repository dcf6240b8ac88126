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
	"strings"
	"syscall"
	"text/tabwriter"
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

// command is one jitbot command: a name, the one line that help prints for
// it, and either what it runs or its subcommands.
type command struct {
	name    string
	summary string
	run     func(c *cli, args []string) int
	sub     []command
}

// commands is every command jitbot has. Help is printed from it.
var commands = []command{
	{name: "run", summary: "start the bot (Slack Socket Mode)", run: (*cli).run},
	{name: "playground", summary: "try jitbot in a browser: the real bot in a local Slack and Atlassian, on simulated time", run: (*cli).playground},
	{name: "policy", summary: "check a policy file and explain its decisions", sub: []command{
		{name: "check", summary: "validate a policy file; --online also asks the providers whether its groups exist", run: (*cli).policyCheck},
		{name: "explain", summary: "show which rule applies to a request, who approves it and for how long", run: (*cli).policyExplain},
	}},
	{name: "grants", summary: "list and revoke grants", sub: []command{
		{name: "list", summary: "list grants, one line per membership, with their state and deadline", run: (*cli).grantsList},
		{name: "revoke", summary: "revoke a grant now (the running bot removes the membership)", run: (*cli).grantsRevoke},
	}},
	{name: "audit", summary: "check, export and anchor the audit trail", sub: []command{
		{name: "verify", summary: "walk the hash chain and name the first event that does not match", run: (*cli).auditVerify},
		{name: "export", summary: "stream the audit events as JSON Lines or CSV", run: (*cli).auditExport},
		{name: "anchor", summary: "post the chain head to the audit channel, an outside witness", run: (*cli).auditAnchor},
	}},
	{name: "report", summary: "who had access, and why", sub: []command{
		{name: "access", summary: "who had a resource at a moment, since when, until when, why, approved by whom", run: (*cli).reportAccess},
		{name: "person", summary: "every request, grant, review answer and suspension of one person", run: (*cli).reportPerson},
		{name: "standing", summary: "standing access: every member of a managed group that no grant covers, with last activity", run: (*cli).reportStanding}, // certification.go
	}},
	{name: "evidence", summary: "the auditor's evidence for a period", sub: []command{
		{name: "pack", summary: "write a folder per period: a section per control (DORA, ISO 27001, SOX), the populations as CSV, the chain verified, HTML, PDF and a manifest", run: (*cli).evidencePack},
	}},
	{name: "db", summary: "move and back up the database", sub: []command{
		{name: "copy", summary: "copy a SQLite database into an empty PostgreSQL database, audit chain verified on both sides", run: (*cli).dbCopy},
		{name: "backup", summary: "write a consistent copy of the SQLite database, while the bot runs", run: (*cli).dbBackup},
	}},
	{name: "activity", summary: "last-active dates from the Atlassian directory", sub: []command{ // review.go
		{name: "sync", summary: "read every user's product activity from the Admin API into the database", run: (*cli).activitySync},
		{name: "show", summary: "last activity per product and days idle, of a person or a department", run: (*cli).activityShow},
	}},
	{name: "directory", summary: "people, managers and departments from the identity providers", sub: []command{ // directory.go
		{name: "sync", summary: "read every directory source, store the merged directory, list what changed and what could not be resolved", run: (*cli).directorySync},
		{name: "show", summary: "what jitbot believes about a person, and which source said each thing", run: (*cli).directoryShow},
	}},
	{name: "review", summary: "licence reviews: rules, runs and their outcomes", sub: []command{ // review.go
		{name: "list", summary: "the review rules, who they cover, their next and last run", run: (*cli).reviewList},
		{name: "run", summary: "run a review rule now (--dry-run changes nothing)", run: (*cli).reviewRun},
		{name: "runs", summary: "past runs with their outcomes", run: (*cli).reviewRuns},
		{name: "report", summary: "one run person by person, or everyone suspended on a day, as a table, CSV or JSON", run: (*cli).reviewReport},
		{name: "answer", summary: "answer for one person as IT: --keep with a reason, or --suspend", run: (*cli).reviewAnswer},
	}},
	{name: "certification", summary: "certifications of standing access: rules, campaigns and their answers", sub: []command{ // certification.go
		{name: "list", summary: "the certification rules, their groups, reviewers, next and last campaign", run: (*cli).certificationList},
		{name: "run", summary: "start a campaign of a rule now: list the standing members and queue the reviewers' cards", run: (*cli).certificationRun},
		{name: "report", summary: "one campaign member by member, with answers and removals, as a table, CSV or JSON", run: (*cli).certificationReport},
	}},
	{name: "users", summary: "people's Atlassian accounts", sub: []command{ // review.go
		{name: "restore", summary: "restore a suspended person and their memberships under today's policy", run: (*cli).usersRestore},
	}},
	{name: "health", summary: "ask a running jitbot's /healthz (or /readyz): the Docker HEALTHCHECK", run: (*cli).healthCommand},
	{name: "version", summary: "print the version", run: (*cli).version},
}

// lookup returns the command named name in cmds.
func lookup(cmds []command, name string) (command, bool) {
	for _, c := range cmds {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// writeUsage prints the top-level help: every command and subcommand with
// its summary.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, "jitbot — just-in-time access to Atlassian Cloud, from Slack.\n\nUsage:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		if len(c.sub) == 0 {
			fmt.Fprintf(tw, "  jitbot %s\t%s\n", c.name, c.summary)
			continue
		}
		for _, s := range c.sub {
			fmt.Fprintf(tw, "  jitbot %s %s\t%s\n", c.name, s.name, s.summary)
		}
	}
	tw.Flush()
	fmt.Fprint(w, `
Run 'jitbot COMMAND --help' for a command's flags. Settings can also be given
in the environment (see README.md): flags win over the environment.
`)
}

// Run runs the jitbot command line and returns the exit code. It is what
// main calls, and what end-to-end tests call in-process.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return exitUsage
	}
	c := &cli{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	switch args[0] {
	case "-h", "--help", "help":
		writeUsage(stdout)
		return exitOK
	case "--version":
		return c.version(nil)
	}
	cmd, ok := lookup(commands, args[0])
	if !ok {
		fmt.Fprintf(stderr, "jitbot: unknown command %q\n\n", args[0])
		writeUsage(stderr)
		return exitUsage
	}
	if cmd.run != nil {
		return cmd.run(c, args[1:])
	}
	return c.group(cmd, args[1:])
}

// cli carries a command's streams and environment.
type cli struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// group runs a subcommand of cmd, or prints cmd's subcommands with their
// summaries.
func (c *cli) group(cmd command, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := c.stdout
		fmt.Fprintf(w, "Usage: jitbot %s COMMAND — %s\n\nCommands:\n", cmd.name, cmd.summary)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, s := range cmd.sub {
			fmt.Fprintf(tw, "  %s\t%s\n", s.name, s.summary)
		}
		tw.Flush()
		fmt.Fprintf(w, "\nRun 'jitbot %s COMMAND --help' for a command's flags.\n", cmd.name)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	sub, ok := lookup(cmd.sub, args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "jitbot %s: unknown command %q (try jitbot %s --help)\n", cmd.name, args[0], cmd.name)
		return exitUsage
	}
	return sub.run(c, args[1:])
}

func (c *cli) version(args []string) int {
	if len(args) > 0 {
		return c.fail(exitUsage, "jitbot version takes no arguments, got %q", strings.Join(args, " "))
	}
	fmt.Fprintf(c.stdout, "jitbot %s\n", Version)
	return exitOK
}

func (c *cli) fail(code int, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "jitbot: "+format+"\n", args...)
	return code
}
