package review_test

import (
	"context"
	"testing"
	"time"

	"github.com/jitbot/jitbot/review"
)

// Two syncs at once (the bot's scheduled one and `jitbot activity sync`,
// two processes): the one that started first writes its pages after the
// later one did, and the later one then marks as gone everyone not seen
// since it started. Nobody it saw may be marked gone, and what it stored
// of them is not overwritten by the older sync's older view.
func TestSync_OverlappingSyncsMarkNobodyGone(t *testing.T) {
	e := newEnv(t, exampleReviews)
	ctx := context.Background()
	older, newer := t0.Add(time.Minute), t0.Add(2*time.Minute)
	seen := func(title string) []review.DirectoryUser {
		return []review.DirectoryUser{
			{AccountID: "acc-erin", Email: "erin@partner.io", Name: "Erin", AccountType: "atlassian", AccountStatus: "active", JobTitle: title},
			{AccountID: "acc-kim", Email: "kim@example.com", Name: "Kim", AccountType: "atlassian", AccountStatus: "active", JobTitle: title},
		}
	}
	put := func(users []review.DirectoryUser, at time.Time) {
		t.Helper()
		if err := e.db.UpdateReview(ctx, func(tx review.Tx) error { _, err := tx.PutUsers(users, at); return err }); err != nil {
			t.Fatal(err)
		}
	}
	put(seen("from the newer sync"), newer) // the newer sync's pages
	put(seen("from the older sync"), older) // the older sync's, written late
	if err := e.db.UpdateReview(ctx, func(tx review.Tx) error { _, err := tx.MarkGone(newer); return err }); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"erin@partner.io", "kim@example.com"} {
		var u *review.User
		if err := e.db.ViewReview(ctx, func(tx review.Tx) error {
			var err error
			u, err = tx.UserByEmail(email)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if u.Gone {
			t.Errorf("%s is marked gone although the latest sync saw them", email)
		}
		if !u.LastSeen.Equal(newer) || u.JobTitle != "from the newer sync" {
			t.Errorf("%s: last seen %v, job title %q; want the newer sync's (%v)", email, u.LastSeen, u.JobTitle, newer)
		}
	}
}
