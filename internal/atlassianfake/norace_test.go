//go:build !race

package atlassianfake

const raceEnabled = false
