package app

import (
	"context"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/backup"
	"github.com/arkiv/arkiv/infra/keyring"
	"github.com/arkiv/arkiv/infra/shredjournal"
)

// BackupConfig configures the shred journal and scheduled backups.
type BackupConfig struct {
	// ShredJournal is the shred journal's path (ARKIV_SHRED_JOURNAL); every key destruction
	// is written to it before it commits. Empty runs without a journal (tests only).
	ShredJournal string
	// Dir, when set (ARKIV_BACKUP_DIR), makes Run take a backup every Every (default 24h)
	// into Dir/arkiv-<time> and delete those older than Retention (default 14 days).
	Dir       string
	Every     time.Duration
	Retention time.Duration
	// SigningKeyFile is the ledger's note private key (ARKIV_SIGNING_KEY_FILE); backups are
	// signed with it when set.
	SigningKeyFile string
	// ESDBSchema is the embedded event store's schema (default "esdb").
	ESDBSchema string
}

// keyringOptions returns the keyring options the backup configuration implies: the shred
// journal.
func (p *Platform) keyringOptions() ([]keyring.Option, error) {
	if p.cfg.Backup.ShredJournal == "" {
		return nil, nil
	}
	j, err := shredjournal.Open(p.cfg.Backup.ShredJournal)
	if err != nil {
		return nil, err
	}
	return []keyring.Option{keyring.WithShredJournal(j)}, nil
}

// runBackups takes scheduled backups until ctx ends (in a process that runs the projections): the first when the newest backup in
// the directory is older than the schedule's period, then every period; after each it
// prunes those past the retention. Failures are logged and retried at the next period.
func (p *Platform) runBackups(ctx context.Context) {
	c := p.cfg.Backup
	if c.Dir == "" || !p.cfg.Projections {
		// Like the process managers, scheduled backups run in the worker process only, not
		// in API-only replicas.
		return
	}
	every, retention := c.Every, c.Retention
	if every <= 0 {
		every = 24 * time.Hour
	}
	if retention <= 0 {
		retention = 14 * 24 * time.Hour
	}
	wait := time.Duration(0)
	if list, err := backup.List(c.Dir); err == nil && len(list) > 0 {
		wait = max(every-p.clock.Now().Sub(list[len(list)-1].Manifest.CreatedAt), 0)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		start := time.Now()
		out := filepath.Join(c.Dir, backup.Name(p.clock.Now()))
		m, err := p.TakeBackup(ctx, out)
		if err != nil {
			if ctx.Err() == nil {
				p.log.Error("scheduled backup failed", "kind", domain.KindOf(err).String(), "err", domain.PublicMessage(err))
			}
			continue
		}
		p.log.Info("backup taken", "dir", out, "id", m.ID, "files", len(m.Files), "took", time.Since(start).Round(time.Millisecond))
		removed, err := backup.Prune(c.Dir, retention, p.clock.Now())
		if err != nil {
			p.log.Error("pruning old backups failed", "err", domain.PublicMessage(err))
		} else if len(removed) > 0 {
			p.log.Info("old backups pruned", "removed", len(removed))
		}
	}
}

// TakeBackup takes a backup of this platform's key store and (embedded) event store into out
// while it keeps serving.
func (p *Platform) TakeBackup(ctx context.Context, out string) (*backup.Manifest, error) {
	kek, err := keyring.LoadKEKFile(p.cfg.KEKFile)
	if err != nil {
		return nil, err
	}
	dsn, err := keyring.KeystoreURL(p.cfg.KeystoreURL, p.cfg.PGURL)
	if err != nil {
		return nil, err
	}
	var signer note.Signer
	if p.cfg.Backup.SigningKeyFile != "" {
		if signer, err = backup.NewSigner(p.cfg.Backup.SigningKeyFile); err != nil {
			return nil, domain.Wrap(domain.KindInvalid, "app.backup", err, "ARKIV_SIGNING_KEY_FILE is not a note private key")
		}
	}
	return backup.Create(ctx, backup.Config{
		PGURL: p.cfg.PGURL, Schema: p.cfg.Backup.ESDBSchema, KeystoreURL: dsn, Keys: kek, Signer: signer,
		Journal: p.cfg.Backup.ShredJournal, ExternalHead: backup.ClientHead(p.Store.Client()),
		Version: p.cfg.Version, Projections: queryProjections(), Clock: p.clock, Log: p.log,
	}, out)
}
