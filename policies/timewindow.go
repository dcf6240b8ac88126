package policies

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A rule's time window: the matcher key
//
//	if:
//	  time: {days: [mon-fri], hours: "08:00-18:00", timezone: Europe/Paris}
//
// holds when the request is filed on one of the days, within the hours,
// read on the wall clock of the time zone (the policy's timezone: when the
// window names none, else UTC). The hours include their start and exclude
// their end; a window that ends before it starts runs over midnight and
// belongs to the day it starts on. Both keys are optional: days alone
// means all day, hours alone every day. A wall clock is what people mean
// by "business hours", so a DST change moves the window in UTC with it.

var timeKeys = []string{"days", "hours", "timezone"}

// TimeWindow is a rule's time condition.
type TimeWindow struct {
	Days     [7]bool // indexed by time.Weekday; all true when the policy lists none
	From, To int     // minutes since midnight; From == To == 0 means all day
	Zone     string  // the IANA name as written; "" for the policy's timezone
	loc      *time.Location
	Text     string // as written, for explain: "mon-fri 08:00-18:00 Europe/Paris"
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// In reports whether t falls in the window; policyLoc is the policy's
// timezone, used when the window names none.
func (w *TimeWindow) In(t time.Time, policyLoc *time.Location) bool {
	loc := w.loc
	if loc == nil {
		loc = policyLoc
	}
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	mins := lt.Hour()*60 + lt.Minute()
	day := lt.Weekday()
	switch {
	case w.From == w.To: // all day
		return w.Days[day]
	case w.From < w.To:
		return w.Days[day] && mins >= w.From && mins < w.To
	default: // over midnight: from its start to midnight, then up to its end the next day
		return w.Days[day] && mins >= w.From || w.Days[(day+6)%7] && mins < w.To
	}
}

// timeWindow reads a matcher's time: key.
func (ps *parser) timeWindow(n *yaml.Node) *TimeWindow {
	f, ok := ps.fields(n, "time", timeKeys)
	if !ok {
		return nil
	}
	w := &TimeWindow{}
	var text []string
	if e, has := f["days"]; has {
		ps.nonEmpty(e.val, "days")
		vals, nodes, _ := ps.strs(e.val, "days", true)
		for i, v := range vals {
			if err := w.addDays(v); err != nil {
				ps.nodef(nodes[i], "days: %v", err)
			}
		}
		text = append(text, strings.ToLower(strings.Join(vals, ",")))
	} else {
		w.Days = [7]bool{true, true, true, true, true, true, true}
	}
	if e, has := f["hours"]; has {
		if s, ok := ps.str(e.val, "hours"); ok {
			from, to, err := parseHours(s)
			if err != nil {
				ps.nodef(ps.deref(e.val), "hours: %v", err)
			}
			w.From, w.To = from, to
			text = append(text, s)
		}
	}
	if e, has := f["timezone"]; has {
		if s, ok := ps.str(e.val, "timezone"); ok {
			loc, err := time.LoadLocation(s)
			if err != nil || s == "Local" {
				ps.nodef(ps.deref(e.val), "timezone %q is not an IANA time zone name like Europe/Paris or UTC", s)
			} else {
				w.Zone, w.loc = s, loc
				text = append(text, s)
			}
		}
	}
	if len(f) == 0 {
		ps.nodef(ps.deref(n), "time must set days, hours or both")
	}
	w.Text = strings.Join(text, " ")
	return w
}

// addDays adds "mon", or a range "mon-fri" (which may wrap: "fri-mon").
func (w *TimeWindow) addDays(s string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	a, b, isRange := strings.Cut(s, "-")
	from, ok := dayNames[strings.TrimSpace(a)]
	if !ok {
		return fmt.Errorf("%q is not a day: expected mon, tue, wed, thu, fri, sat, sun or a range like mon-fri", s)
	}
	to := from
	if isRange {
		if to, ok = dayNames[strings.TrimSpace(b)]; !ok {
			return fmt.Errorf("%q is not a day range: expected a range like mon-fri", s)
		}
	}
	for d := from; ; d = (d + 1) % 7 {
		w.Days[d] = true
		if d == to {
			return nil
		}
	}
}

// parseHours reads "08:00-18:00"; "24:00" may end a window.
func parseHours(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q: expected a range like 08:00-18:00", s)
	}
	if from, err = clockMinutes(a, false); err == nil {
		to, err = clockMinutes(b, true)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%q: %v", s, err)
	}
	if from == to%(24*60) {
		return 0, 0, fmt.Errorf("%q starts and ends at the same time: leave hours out for all day", s)
	}
	return from, to % (24 * 60), nil
}

func clockMinutes(s string, end bool) (int, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && (mm != 0 || !end) {
		return 0, fmt.Errorf("%q is not a time of day like 08:00", s)
	}
	return hh*60 + mm, nil
}
