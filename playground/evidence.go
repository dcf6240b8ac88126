package playground

import (
	"archive/zip"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/evidence"
	"go.uber.org/zap"
)

// The evidence pack from the page: `GET /evidence/pack.zip?days=N` builds
// what `jitbot evidence pack` writes, for the N days (default 90) of
// simulated time up to now, and sends the folder as a zip.

// evidenceDays is the period a pack from the page covers unless asked.
const evidenceDays = 90

func (s *Server) evidencePack(w http.ResponseWriter, r *http.Request) {
	src, ok := s.cfg.Audit.(evidence.Source)
	if !ok {
		http.Error(w, "this playground's database cannot build an evidence pack", http.StatusNotImplemented)
		return
	}
	days := evidenceDays
	if d := r.URL.Query().Get("days"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > 3660 {
			http.Error(w, "days is a number of days, from 1 to 3660", http.StatusBadRequest)
			return
		}
		days = n
	}
	now := s.w.Clock.Now().UTC()
	to := now.Truncate(24*time.Hour).AddDate(0, 0, 1) // today, included
	from := to.AddDate(0, 0, -days)
	pack, err := evidence.Build(r.Context(), src, evidence.Options{From: from, To: to, Generated: now,
		Command: fmt.Sprintf("jitbot evidence pack --from %s --to %s --out pack", from.Format("2006-01-02"), to.AddDate(0, 0, -1).Format("2006-01-02"))})
	if err != nil {
		s.log.Warn("evidence pack", zap.Error(err))
		http.Error(w, "the evidence pack could not be built: see the playground's log", http.StatusInternalServerError)
		return
	}
	dir, err := os.MkdirTemp("", "jitbot-evidence-")
	if err != nil {
		http.Error(w, "no room for the pack", http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "pack")
	if err := evidence.Write(out, pack); err != nil {
		s.log.Warn("evidence pack", zap.Error(err))
		http.Error(w, "the evidence pack could not be written: see the playground's log", http.StatusInternalServerError)
		return
	}
	name := "jitbot-evidence-" + from.Format("2006-01-02") + "-to-" + to.AddDate(0, 0, -1).Format("2006-01-02")
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.zip"`)
	if err := zipFolder(w, out, name); err != nil {
		s.log.Warn("evidence pack", zap.Error(err))
	}
}

// zipFolder writes every file of dir into a zip under the folder name.
func zipFolder(w io.Writer, dir, name string) error {
	z := zip.NewWriter(w)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		f, err := z.Create(name + "/" + e.Name())
		if err != nil {
			return err
		}
		in, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		_, err = io.Copy(f, in)
		in.Close()
		if err != nil {
			return err
		}
	}
	return z.Close()
}
