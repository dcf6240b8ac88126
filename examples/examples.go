// Package examples holds the example policy and its directory file, for
// people to read and copy, and embedded for `jitbot playground`, which
// runs on them when no --policy is given.
package examples

import "embed"

// FS holds policy.yaml and people.csv.
//
//go:embed policy.yaml people.csv
var FS embed.FS
