package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/jitbot/jitbot/audit"
	"github.com/jitbot/jitbot/store"
	"github.com/jitbot/jitbot/store/postgres"
)

// dbCopy moves an installation from a SQLite file to PostgreSQL.
func (c *cli) dbCopy(args []string) int {
	fs := flag.NewFlagSet("db copy", flag.ContinueOnError)
	from := fs.String("from", c.env("JITBOT_DB", defaultDB), "the SQLite database `FILE` to copy (env JITBOT_DB)")
	to := fs.String("to", "", "the PostgreSQL `URL` to copy into, an empty database or schema (required), e.g. postgres://jitbot@db.internal/jitbot")
	if code := c.parse(fs, args, "jitbot db copy --from FILE --to postgres://…", 0); code >= 0 {
		return code
	}
	if !postgres.IsURL(*to) {
		return c.fail(exitUsage, "db copy needs --to postgres://… (a PostgreSQL URL), got %q", *to)
	}
	if postgres.IsURL(*from) {
		return c.fail(exitUsage, "db copy copies a SQLite file (--from FILE) into PostgreSQL; to copy between PostgreSQL databases use pg_dump")
	}
	if st, err := os.Stat(*from); err != nil || st.IsDir() {
		return c.fail(exitFailure, "no jitbot database at %s: name the SQLite file with --from", *from)
	}
	// The source is opened as jitbot run opens it: a bot still running on
	// it would go on writing where the copy no longer looks.
	src, err := store.Open(c.ctx, *from, store.Options{Exclusive: true})
	if err != nil {
		if strings.Contains(err.Error(), "already running") {
			return c.fail(exitFailure, "%v; stop it before copying, or what it writes after the copy is lost", err)
		}
		return c.fail(exitFailure, "%v", err)
	}
	defer src.Close()
	dst, err := postgres.Open(c.ctx, *to, postgres.Options{})
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer dst.Close()
	res, err := postgres.CopyFromSQLite(c.ctx, src, dst)
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	tables := make([]string, 0, len(res.Rows))
	for t := range res.Rows {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(c.stdout, "%-16s %d rows\n", t, res.Rows[t])
	}
	fmt.Fprintf(c.stdout, "copied %s to %s: audit chain verified on both sides, %d events, head %s\n", *from, dst.Name(), res.Events, res.Head)
	fmt.Fprintf(c.stdout, "point JITBOT_DB at the PostgreSQL URL and start jitbot run; keep %s as it is until you are sure\n", *from)
	return exitOK
}

// dbBackup writes a consistent copy of the SQLite database, beside a
// running bot.
func (c *cli) dbBackup(args []string) int {
	fs := flag.NewFlagSet("db backup", flag.ContinueOnError)
	var cfg Config
	c.dbFlag(fs, &cfg)
	if code := c.parse(fs, args, "jitbot db backup [--db FILE] BACKUP_FILE", 1); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return c.fail(exitUsage, "db backup takes the file to write, e.g. jitbot db backup /backups/jitbot-$(date +%%F).db")
	}
	if postgres.IsURL(cfg.DB) {
		return c.fail(exitUsage, "db backup backs up a SQLite database; back up PostgreSQL with its own tools (pg_dump)")
	}
	db, err := store.Open(c.ctx, cfg.DB, store.Options{ReadOnly: true})
	if err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	defer db.Close()
	out := fs.Arg(0)
	if err := db.Backup(c.ctx, out); err != nil {
		return c.fail(exitFailure, "%v", err)
	}
	// The copy must stand on its own: open it and walk its chain.
	b, err := store.Open(c.ctx, out, store.Options{ReadOnly: true})
	if err != nil {
		return c.fail(exitFailure, "the backup %s does not open: %v", out, err)
	}
	defer b.Close()
	res, err := audit.Verify(c.ctx, b)
	if err != nil {
		return c.fail(exitFailure, "the backup %s: %v", out, err)
	}
	fmt.Fprintf(c.stdout, "backed up %s to %s: %d audit events, head %s, verified\n", cfg.DB, out, res.Count, res.Head)
	return exitOK
}
