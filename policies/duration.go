package policies

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day is the length of the "d" unit: 24 hours. Access windows are
// counted in wall-clock hours, so daylight-saving changes are ignored.
const Day = 24 * time.Hour

// durationUnits are the units ParseDuration accepts, largest first:
// FormatDuration prints them in this order and ParseDuration requires it.
var durationUnits = []struct {
	name string
	size time.Duration
}{
	{"d", Day},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
}

// MaxPolicyDuration bounds every duration a policy file gives (maximum
// grants, request timeouts, duration matchers): beyond a year a duration
// is a typo, not a decision.
const MaxPolicyDuration = 365 * Day

const durationHint = "expected a whole number followed by d, h, m or s, like 30d, 4h, 90m or 1d12h"

// ParseDuration reads a positive duration written with the units d (24
// hours), h, m and s, alone or combined from the largest unit to the
// smallest: "30d", "4h", "90m", "1d12h", "45s". It rejects empty, zero and
// negative durations, fractions, unknown units and repeated units.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration: %s", durationHint)
	}
	if in[0] == '-' {
		return 0, fmt.Errorf("duration %q is negative: it must be longer than zero", s)
	}
	var total time.Duration
	next := 0 // index in durationUnits of the largest unit still allowed
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
		}
		digits := rest[:i]
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		unit := rest[:j]
		rest = rest[j:]
		if unit == "" {
			return 0, fmt.Errorf("invalid duration %q: %q has no unit; %s", s, digits, durationHint)
		}
		k := unitIndex(unit)
		if k < 0 {
			return 0, fmt.Errorf("invalid duration %q: unknown unit %q; %s", s, unit, durationHint)
		}
		if k < next {
			return 0, fmt.Errorf("invalid duration %q: units must appear once each, largest first (d, h, m, s)", s)
		}
		next = k + 1
		n, err := strconv.ParseInt(digits, 10, 64)
		size := durationUnits[k].size
		if err != nil || n > int64(math.MaxInt64/size) || total > math.MaxInt64-time.Duration(n)*size {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += time.Duration(n) * size
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q must be longer than zero", s)
	}
	return total, nil
}

func unitIndex(unit string) int {
	for i, u := range durationUnits {
		if u.name == unit {
			return i
		}
	}
	return -1
}

// FormatDuration prints d in the form ParseDuration reads, with no zero
// parts: 30d, 4h, 1h30m, 1d12h, 45s, 1m30s. A duration that is not a whole
// number of seconds falls back to time.Duration's own form ("1.5s").
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < 0:
		if d == math.MinInt64 {
			return d.String()
		}
		return "-" + FormatDuration(-d)
	case d%time.Second != 0:
		return d.String()
	}
	var b strings.Builder
	for _, u := range durationUnits {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.name)
			d -= n * u.size
		}
	}
	return b.String()
}
