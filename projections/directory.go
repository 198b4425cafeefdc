package projections

import (
	"context"
	"encoding/json"
	"time"

	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// Wire forms of the payloads of organizations and users: sealed fields stay envelope strings.
type (
	orgCreated struct {
		OrganizationID string          `json:"organizationId"`
		Name           string          `json:"name"`
		Settings       json.RawMessage `json:"settings"`
	}
	userRegistered struct {
		UserID         string `json:"userId"`
		OrganizationID string `json:"organizationId"`
		Email          string `json:"email"`
		Name           string `json:"name"`
		Role           string `json:"role"`
	}
	userRef struct {
		UserID string `json:"userId"`
		Role   string `json:"role"`
	}
)

// applyDirectory projects the events of organizations and users into the organizations and
// users tables.
func (p *ReadModel) applyDirectory(ctx context.Context, tx pgx.Tx, ev engine.Event, at time.Time) error {
	switch ev.Type {
	case evOrgCreated:
		var e orgCreated
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.OrganizationID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO organizations (organization_id, name, settings, created_at, updated_at, position)
			VALUES ($1, $2, $3, $4, $4, $5)
			ON CONFLICT (organization_id) DO UPDATE SET name = EXCLUDED.name, settings = EXCLUDED.settings,
				created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, position = EXCLUDED.position`,
			e.OrganizationID, ref(ev, "name", e.Name), e.Settings, at, pos(ev))
		return err
	case evOrgSettings:
		var e orgCreated
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE organizations SET settings = $2, updated_at = $3 WHERE organization_id = $1`,
			e.OrganizationID, e.Settings, at)
		return err
	case evUserRegistered:
		var e userRegistered
		if err := decode(ev, &e); err != nil {
			return err
		}
		hid, err := p.er.hidden(ctx, tx, e.UserID)
		if err != nil {
			return err
		}
		email, name := ref(ev, "email", e.Email), ref(ev, "name", e.Name)
		if hid {
			email, name = nil, nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO users (user_id, organization_id, email, name, role, active, erased, registered_at, position)
			SELECT $1, $2, $3, $4, $5, true, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM organizations WHERE organization_id = $2)
			ON CONFLICT (user_id) DO UPDATE SET organization_id = EXCLUDED.organization_id, email = EXCLUDED.email,
				name = EXCLUDED.name, role = EXCLUDED.role, active = true, erased = EXCLUDED.erased,
				registered_at = EXCLUDED.registered_at, position = EXCLUDED.position`,
			e.UserID, e.OrganizationID, email, name, e.Role, hid, at, pos(ev))
		return err
	case evUserRole:
		var e userRef
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE users SET role = $2 WHERE user_id = $1`, e.UserID, e.Role)
		return err
	case evUserDeactivated:
		var e userRef
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE users SET active = false WHERE user_id = $1`, e.UserID)
		return err
	}
	return nil
}
