package storetest

import (
	"compress/gzip"
	"io"
	"os"
	"testing"
)

// ReadDump returns the SQL text of a gzipped dump (the databases of older
// jitbots in store/testdata).
func ReadDump(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(text)
}
