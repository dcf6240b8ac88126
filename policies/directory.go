package policies

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The directory: people inline and in the CSV file directory.file names.

// personIn is a directory entry as read from YAML or CSV, with positions.
type personIn struct {
	at                                     pos
	email, department, manager, employment string
	slackID                                string
	emailAt, managerAt, employmentAt       pos
	// fromFile: the entry comes from the directory file, whose values are
	// never repeated in problems (a file that is not a directory must not
	// be echoed: its position and what is wrong say enough).
	fromFile bool
}

// show quotes v for a problem about in, or names it by role for an entry
// of the directory file.
func (in personIn) show(role, v string) string {
	if in.fromFile {
		return "this " + role
	}
	return fmt.Sprintf("%s %q", role, v)
}

func (ps *parser) directory(n *yaml.Node) {
	// Managers are checked once the whole directory is read.
	defer ps.checkManagers()
	f, ok := ps.fields(n, "directory", directoryKeys)
	if !ok {
		return
	}
	if e, ok := f["people"]; ok {
		items, _ := ps.seq(e.val, "people")
		for _, it := range items {
			ps.inlinePerson(it)
		}
	}
	if e, ok := f["file"]; ok {
		if file, ok := ps.str(e.val, "file"); ok {
			ps.csvFile(file, ps.deref(e.val))
		}
	}
	ps.directorySettings(f) // sources.go
}

func (ps *parser) inlinePerson(n *yaml.Node) {
	f, ok := ps.fields(n, "a person", personKeys)
	if !ok {
		return
	}
	if !ps.require(n, f, "a person", "email") {
		return
	}
	in := personIn{at: ps.at(n)}
	good := true
	read := func(key string, dst *string, at *pos) {
		e, has := f[key]
		if !has {
			return
		}
		s, ok := ps.str(e.val, key)
		good = good && ok
		*dst = s
		if at != nil {
			*at = ps.at(ps.deref(e.val))
		}
	}
	read("email", &in.email, &in.emailAt)
	read("department", &in.department, nil)
	read("manager", &in.manager, &in.managerAt)
	read("employment", &in.employment, &in.employmentAt)
	read("slack_id", &in.slackID, nil)
	if good {
		ps.addPerson(in)
	}
}

// addPerson validates a directory entry and adds it.
func (ps *parser) addPerson(in personIn) {
	ok := true
	email := normEmail(in.email)
	if !isEmail(email) {
		ps.add(in.emailAt, "%s is not an email address", in.show("email", in.email))
		ok = false
	}
	manager := normEmail(in.manager)
	switch {
	case manager == "":
	case !isEmail(manager):
		ps.add(in.managerAt, "%s is not an email address", in.show("manager", in.manager))
		ok = false
	case manager == normEmail(in.email):
		if in.fromFile {
			ps.add(in.managerAt, "a person cannot be their own manager")
		} else {
			ps.add(in.managerAt, "%s cannot be their own manager", manager)
		}
		ok = false
	default:
		// Checked once the whole directory is read, even if this entry
		// has other problems, so that every problem is reported at once.
		ps.managers = append(ps.managers, ref{manager, in.managerAt, in.fromFile})
	}
	employment := strings.ToLower(strings.TrimSpace(in.employment))
	if employment != "" && employment != EmploymentInternal && employment != EmploymentExternal {
		if in.fromFile {
			ps.add(in.employmentAt, "employment must be internal | external")
		} else {
			ps.add(in.employmentAt, "employment must be internal | external, got %q", in.employment)
		}
		ok = false
	}
	if !ok {
		return
	}
	if first, dup := ps.personAt[email]; dup {
		who := email
		if in.fromFile {
			who = "this person"
		}
		ps.add(in.emailAt, "%s is listed twice in the directory (first at %s)", who, where(first, in.emailAt))
		return
	}
	ps.personAt[email] = in.emailAt
	ps.pol.People[email] = &Person{
		Email:      email,
		Department: strings.TrimSpace(in.department),
		Manager:    manager,
		Employment: employment,
		SlackID:    strings.TrimSpace(in.slackID),
	}
}

func (ps *parser) checkManagers() {
	if ps.pol.Directory != nil && len(ps.pol.Directory.Sources) > 0 {
		return // the manager may be known only to an identity provider: the sync reports one nobody knows
	}
	for _, m := range ps.managers {
		if _, ok := ps.pol.People[m.key]; !ok {
			if m.fromFile {
				ps.add(m.at, "this manager is not in the directory")
			} else {
				ps.add(m.at, "manager %s is not in the directory", m.key)
			}
		}
	}
}

// csvColumns are the directory file's columns, in their default order.
var csvColumns = []string{"email", "department", "manager", "employment", "slack_id"}

// csvFile reads the directory file named at node n. A first row starting
// with "email", or with no @ anywhere, is a header naming the columns;
// otherwise the columns are csvColumns in order.
func (ps *parser) csvFile(file string, n *yaml.Node) {
	// The file must lie in the policy's folder: a policy may be checked by
	// someone other than its author, and must not make jitbot read (and
	// report on) any file it can reach.
	if !filepath.IsLocal(filepath.FromSlash(file)) {
		ps.nodef(n, "file must be a relative path inside the policy's folder, without .. (got %s)", file)
		return
	}
	path := filepath.Join(filepath.Dir(ps.name), filepath.FromSlash(file))
	data, err := ps.readFile(path)
	if err != nil {
		ps.nodef(n, "cannot read the directory file %s: %v", path, err)
		return
	}
	ps.csv = data
	ps.pol.DirectoryFile = path
	// A byte-order mark is invisible in editors: drop it so that columns
	// on the first line count as people see them.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	cols := csvColumns
	for first := true; ; first = false {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			ps.add(pos{path, max(pe.Line, 1), max(pe.Column, 1)}, "invalid CSV: %v", pe.Err)
			return
		}
		if err != nil {
			ps.add(pos{path, 1, 1}, "invalid CSV: %v", err)
			return
		}
		at := func(i int) pos {
			line, col := r.FieldPos(i)
			return pos{path, line, col}
		}
		// A person's row always holds an email: a first row with no @ in
		// it is a header, whatever it names (so a header that misspells
		// email is reported, not read as a person).
		if first && (strings.EqualFold(strings.TrimSpace(rec[0]), "email") || !slices.ContainsFunc(rec, func(f string) bool { return strings.Contains(f, "@") })) {
			if cols = ps.csvHeader(rec, at); cols == nil {
				return
			}
			continue
		}
		if len(rec) > len(cols) {
			ps.add(at(len(cols)), "too many columns: expected %s", strings.Join(cols, ","))
			continue
		}
		in := personIn{at: at(0), fromFile: true}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			switch cols[i] {
			case "email":
				in.email, in.emailAt = v, at(i)
			case "department":
				in.department = v
			case "manager":
				in.manager, in.managerAt = v, at(i)
			case "employment":
				in.employment, in.employmentAt = v, at(i)
			case "slack_id":
				in.slackID = v
			}
		}
		if in.email == "" {
			ps.add(in.at, "missing email: expected the columns %s", strings.Join(cols, ","))
			continue
		}
		ps.addPerson(in)
	}
}

// csvHeader reads a header row, returning nil when it is unusable.
func (ps *parser) csvHeader(rec []string, at func(int) pos) []string {
	cols := make([]string, len(rec))
	ok := true
	for i, c := range rec {
		c = strings.ToLower(strings.TrimSpace(c))
		switch {
		case !slices.Contains(csvColumns, c):
			ps.add(at(i), "unknown column: expected %s", strings.Join(csvColumns, ","))
			ok = false
		case slices.Contains(cols[:i], c):
			ps.add(at(i), "column %q is repeated", c)
			ok = false
		}
		cols[i] = c
	}
	if ok && !slices.Contains(cols, "email") {
		ps.add(at(0), "the header names no email column: expected the columns %s (email required)", strings.Join(csvColumns, ","))
		ok = false
	}
	if !ok {
		return nil
	}
	return cols
}

// maxDirectoryFile bounds the directory file jitbot reads.
const maxDirectoryFile = 64 << 20

// readInside reads path, which lies in dir, through an os.Root opened at
// dir: symlinks are followed only while they stay inside dir, and only a
// regular file of at most maxDirectoryFile bytes is read.
func readInside(dir, path string) ([]byte, error) {
	rel, err := filepath.Rel(dir, path)
	if err != nil || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("%s is not inside the policy's folder %s", path, dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		if strings.Contains(err.Error(), "path escapes") {
			return nil, fmt.Errorf("it leads out of the policy's folder %s (a symlink?): the directory file must lie inside it", dir)
		}
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("it is not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDirectoryFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxDirectoryFile {
		return nil, fmt.Errorf("it is larger than %d MiB", maxDirectoryFile>>20)
	}
	return data, nil
}
