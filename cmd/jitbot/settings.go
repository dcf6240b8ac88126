package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/policies"
)

// boolSpellings are the accepted ways of writing a boolean setting, in
// either flag or environment, compared case-insensitively.
var boolSpellings = map[string]bool{
	"1": true, "true": true, "yes": true, "on": true, "y": true,
	"0": false, "false": false, "no": false, "off": false, "n": false,
}

const boolHint = "expected 1/0, true/false, yes/no, on/off or y/n"

// parseBool reads a boolean setting named name. Empty means def; anything
// not in boolSpellings is an error naming the setting, so that a typo never
// silently means "off" (for JITBOT_DRY_RUN, off is live).
func parseBool(name, v string, def bool) (bool, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	if s == "" {
		return def, nil
	}
	b, ok := boolSpellings[s]
	if !ok {
		return def, fmt.Errorf("%s=%q is not a boolean: %s", name, v, boolHint)
	}
	return b, nil
}

// parseDurationSetting reads a duration setting named name the way policy
// durations are read (30s, 90m, 4h, 1d12h). Empty means def; with zeroOK,
// "0" is accepted and means zero (a loop turned off).
func parseDurationSetting(name, v string, def time.Duration, zeroOK bool) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return def, nil
	}
	if zeroOK && (s == "0" || s == "0s") {
		return 0, nil
	}
	d, err := policies.ParseDuration(s)
	if err != nil {
		hint := "a positive duration such as 30s, 90m, 4h or 1d"
		if zeroOK {
			hint += ", or 0 to turn it off"
		}
		return def, fmt.Errorf("%s=%q is not %s: %v", name, v, hint, err)
	}
	return d, nil
}

// settings reads environment settings, collecting every problem so that
// start-up reports them all at once and never falls back to a default.
type settings struct {
	getenv func(string) string
	errs   []error
}

func (s *settings) boolean(key string, def bool) bool {
	b, err := parseBool(key, s.getenv(key), def)
	if err != nil {
		s.errs = append(s.errs, err)
	}
	return b
}

// count reads a whole number from lo to hi.
func (s *settings) count(key string, def, lo, hi int) int {
	v := strings.TrimSpace(s.getenv(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		s.errs = append(s.errs, fmt.Errorf("%s=%q is not a whole number from %d to %d", key, v, lo, hi))
		return def
	}
	return n
}

func (s *settings) duration(key string, def time.Duration, zeroOK bool) time.Duration {
	d, err := parseDurationSetting(key, s.getenv(key), def, zeroOK)
	if err != nil {
		s.errs = append(s.errs, err)
	}
	return d
}

// boolFlag is a boolean flag that accepts the spellings parseBool does:
// --dry-run, --dry-run=on, --dry-run=no.
type boolFlag struct {
	name string
	dst  *bool
}

func (f boolFlag) String() string {
	if f.dst == nil {
		return "false"
	}
	return fmt.Sprint(*f.dst)
}

func (f boolFlag) Set(v string) error {
	b, err := parseBool("--"+f.name, v, false)
	if err != nil {
		return err
	}
	*f.dst = b
	return nil
}

// IsBoolFlag lets the flag stand alone, as --dry-run.
func (f boolFlag) IsBoolFlag() bool { return true }

// durationFlag is a duration flag read like policy durations.
type durationFlag struct {
	name   string
	dst    *time.Duration
	zeroOK bool
}

func (f durationFlag) String() string {
	if f.dst == nil {
		return ""
	}
	return policies.FormatDuration(*f.dst)
}

func (f durationFlag) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("--%s needs a duration such as 30s, 90m, 4h or 1d", f.name)
	}
	d, err := parseDurationSetting("--"+f.name, v, 0, f.zeroOK)
	if err != nil {
		return err
	}
	*f.dst = d
	return nil
}
