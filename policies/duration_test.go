package policies

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name string
		give string
		want time.Duration
	}{
		{"days", "30d", 30 * Day},
		{"hours", "4h", 4 * time.Hour},
		{"minutes", "90m", 90 * time.Minute},
		{"seconds", "45s", 45 * time.Second},
		{"day and hours", "1d12h", 36 * time.Hour},
		{"hours and minutes", "1h30m", 90 * time.Minute},
		{"every unit", "1d2h3m4s", Day + 2*time.Hour + 3*time.Minute + 4*time.Second},
		{"surrounding space", " 2h ", 2 * time.Hour},
		{"zero part", "0d1h", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDuration(tt.give)
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.give, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.give, got, tt.want)
			}
		})
	}
}

func TestParseDuration_Errors(t *testing.T) {
	tests := []struct {
		name string
		give string
		want string // in the error message
	}{
		{"empty", "", "empty duration"},
		{"blank", "   ", "empty duration"},
		{"zero", "0h", "longer than zero"},
		{"zero all", "0d0s", "longer than zero"},
		{"negative", "-4h", "negative"},
		{"no unit", "30", "has no unit"},
		{"unknown unit", "2w", `unknown unit "w"`},
		{"milliseconds", "500ms", `unknown unit "ms"`},
		{"fraction", "1.5h", `unknown unit "."`},
		{"uppercase", "4H", `unknown unit "H"`},
		{"no number", "h", "expected a whole number"},
		{"inner space", "1d 2h", `unknown unit "d "`},
		{"out of order", "30m1h", "largest first"},
		{"repeated", "1h1h", "largest first"},
		{"overflow", "9999999999999d", "too long"},
		{"huge digits", "99999999999999999999999s", "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDuration(tt.give)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v, want an error containing %q", tt.give, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseDuration(%q) error: got %q, want it to contain %q", tt.give, err, tt.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		name string
		give time.Duration
		want string
	}{
		{"days", 30 * Day, "30d"},
		{"hours", 4 * time.Hour, "4h"},
		{"hours and minutes", 90 * time.Minute, "1h30m"},
		{"day and hours", 36 * time.Hour, "1d12h"},
		{"seconds", 45 * time.Second, "45s"},
		{"minute and seconds", 90 * time.Second, "1m30s"},
		{"every unit", Day + time.Hour + time.Minute + time.Second, "1d1h1m1s"},
		{"zero", 0, "0s"},
		{"negative", -2 * time.Hour, "-2h"},
		{"sub-second", 1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatDuration(tt.give); got != tt.want {
				t.Errorf("FormatDuration(%v) = %q, want %q", tt.give, got, tt.want)
			}
		})
	}
}

// TestFormatDuration_RoundTrip checks that what FormatDuration prints,
// ParseDuration reads back.
func TestFormatDuration_RoundTrip(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 59 * time.Second, 61 * time.Minute, 25 * time.Hour, 400 * Day, 30*Day + 7*time.Second} {
		s := FormatDuration(d)
		got, err := ParseDuration(s)
		if err != nil || got != d {
			t.Errorf("ParseDuration(FormatDuration(%v) = %q): got %v, %v, want %v", d, s, got, err, d)
		}
	}
}
