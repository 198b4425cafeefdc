package backup

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// Entry is one backup found in a directory.
type Entry struct {
	Dir      string
	Manifest *Manifest
	Bytes    int64
}

// List returns the backups in dir (its subdirectories holding a manifest), oldest first.
// Directories being written (".…partial-…") are skipped.
func List(dir string) ([]Entry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, domain.Wrap(domain.KindNotFound, "backup.list", err, "cannot read the backup directory")
	}
	var out []Entry
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		m, _, err := ReadManifest(p)
		if err != nil {
			continue
		}
		var size int64
		for _, f := range m.Files {
			size += f.Size
		}
		out = append(out, Entry{Dir: p, Manifest: m, Bytes: size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Manifest.CreatedAt.Before(out[j].Manifest.CreatedAt) })
	return out, nil
}

// Prune deletes the backups in dir created more than retention before now, always keeping
// the newest, and returns the directories it removed. Partial directories older than a day
// (left by a crash) are removed too.
func Prune(dir string, retention time.Duration, now time.Time) ([]string, error) {
	list, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for i, e := range list {
		if i == len(list)-1 || sinceCreated(e.Manifest, now) <= retention {
			continue
		}
		if err := os.RemoveAll(e.Dir); err != nil {
			return removed, domain.Wrap(domain.KindUnavailable, "backup.prune", err, "cannot remove an old backup")
		}
		removed = append(removed, e.Dir)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".partial-") {
			if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > 24*time.Hour {
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
	return removed, nil
}

// Name is the directory name of a scheduled backup taken at t: "arkiv-20261204T101500Z".
func Name(t time.Time) string { return "arkiv-" + t.UTC().Format("20060102T150405Z") }

// ParseSchedule parses ARKIV_BACKUP_SCHEDULE: "daily" (every 24h, the default when empty),
// "hourly", or a Go duration of at least a minute such as "6h" or "30m".
func ParseSchedule(s string) (time.Duration, error) {
	switch strings.TrimSpace(s) {
	case "", "daily":
		return 24 * time.Hour, nil
	case "hourly":
		return time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Minute {
		return 0, domain.Errorf(domain.KindInvalid, "backup.schedule", "ARKIV_BACKUP_SCHEDULE %q: want daily, hourly or a duration of at least 1m such as 6h", s)
	}
	return d, nil
}

// ParseRetention parses ARKIV_BACKUP_RETENTION: a number of days ("14d", "14") or a Go
// duration ("336h"); empty is 14 days.
func ParseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 14 * 24 * time.Hour, nil
	}
	days := strings.TrimSuffix(s, "d")
	if n, err := time.ParseDuration(days + "h"); err == nil && !strings.ContainsAny(days, "hmsuµn") {
		if n <= 0 {
			return 0, domain.Errorf(domain.KindInvalid, "backup.retention", "ARKIV_BACKUP_RETENTION %q must be positive", s)
		}
		return n * 24, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, domain.Errorf(domain.KindInvalid, "backup.retention", "ARKIV_BACKUP_RETENTION %q: want days such as 14d or a duration such as 336h", s)
	}
	return d, nil
}
