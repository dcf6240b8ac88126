package policies

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// FuzzParse checks that no input makes Parse, or Evaluate on what it
// accepts, panic.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	csv, err := os.ReadFile("testdata/people.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example, csv)
	f.Add([]byte(matcherPolicy), []byte(nil))
	f.Add([]byte("a: &a {x: 1}\nrules: [{<<: [*a, *a]}]\n"), []byte("email\n\"x"))
	f.Add([]byte("directory: {file: people.csv}\nresources: [{id: b, bundle: [b]}]\nrules: []\n"), []byte("x@y,,x@y,internal\n"))
	f.Fuzz(func(t *testing.T, policy, people []byte) {
		readFile := func(string) ([]byte, error) {
			if people == nil {
				return nil, errors.New("no such file")
			}
			return people, nil
		}
		p, err := Parse("fuzz.yaml", policy, readFile)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("got %v, want a *LoadError with problems", err)
			}
			return
		}
		ctx := context.Background()
		resolver := fakeGroups{"it-leads": {"alice@example.com", "x@y"}}
		for email := range p.People {
			for _, r := range p.Resources {
				for _, d := range []time.Duration{0, time.Hour, 40 * Day} {
					p.Evaluate(ctx, Query{Requester: email, Resource: r.ID, Duration: d}, nil)
					p.Evaluate(ctx, Query{Requester: email, Resource: r.ID, Duration: d}, resolver)
				}
				p.MaxFor(email, r.ID, time.Time{})
				p.Leaves(r.ID)
				p.IsAdmin(r.ID)
			}
		}
		p.Groups()
	})
}
