package projections

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/projections/engine"
	"github.com/jackc/pgx/v5"
)

// Wire forms of the payloads of spaces, their members and assistants: sealed fields stay
// envelope strings.
type (
	spaceCreated struct {
		SpaceID        string `json:"spaceId"`
		OrganizationID string `json:"organizationId"`
		Name           string `json:"name"`
		Classification string `json:"classification"`
		CreatedBy      string `json:"createdBy"`
	}
	spaceMember struct {
		SpaceID string   `json:"spaceId"`
		UserID  string   `json:"userId"`
		Role    string   `json:"role"`
		Models  []string `json:"models"`
	}
	assistantWire struct {
		AssistantID      string `json:"assistantId"`
		OrganizationID   string `json:"organizationId"`
		SpaceID          string `json:"spaceId"`
		Name             string `json:"name"`
		Instructions     string `json:"instructions"`
		Model            string `json:"model"`
		RetentionDays    int    `json:"retentionDays"`
		LogModelPayloads bool   `json:"logModelPayloads"`
	}
)

// applySpaces projects the events of spaces, their members and assistants into the spaces,
// space_members and assistants tables.
func (p *ReadModel) applySpaces(ctx context.Context, tx pgx.Tx, ev engine.Event, at time.Time) error {
	switch ev.Type {
	case evSpaceCreated:
		var e spaceCreated
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.SpaceID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO spaces (space_id, organization_id, name, classification, created_by, created_at, position)
			SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM organizations WHERE organization_id = $2)
			ON CONFLICT (space_id) DO UPDATE SET name = EXCLUDED.name, classification = EXCLUDED.classification,
				created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at, position = EXCLUDED.position`,
			e.SpaceID, e.OrganizationID, ref(ev, "name", e.Name), e.Classification, e.CreatedBy, at, pos(ev))
		return err
	case evMemberAdded:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.UserID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO space_members (space_id, user_id, organization_id, role, added_at)
			SELECT space_id, $2, organization_id, $3, $4 FROM spaces WHERE space_id = $1
			ON CONFLICT (space_id, user_id) DO UPDATE SET role = EXCLUDED.role, added_at = EXCLUDED.added_at`,
			e.SpaceID, e.UserID, e.Role, at)
		return err
	case evMemberRemoved:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM space_members WHERE space_id = $1 AND user_id = $2`, e.SpaceID, e.UserID)
		return err
	case evMemberRole:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE space_members SET role = $3 WHERE space_id = $1 AND user_id = $2`, e.SpaceID, e.UserID, e.Role)
		return err
	case evModelsEnabled:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		if e.Models == nil {
			e.Models = []string{}
		}
		_, err := tx.Exec(ctx, `UPDATE spaces SET models = $2 WHERE space_id = $1`, e.SpaceID, e.Models)
		return err
	case evSpaceDeleted:
		var e spaceMember
		if err := decode(ev, &e); err != nil {
			return err
		}
		return deleteSpace(ctx, tx, "space_id = $1", e.SpaceID)
	case evAssistantCreated:
		var e assistantWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		if hid, err := p.er.hidden(ctx, tx, e.AssistantID); err != nil || hid {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO assistants (assistant_id, organization_id, space_id, name, instructions, model,
				retention_days, log_model_payloads, created_at, updated_at, position, created_by, updated_by)
			SELECT $1, organization_id, space_id, $3, $4, $5, $6, $7, $8, $8, $9, $10, $10 FROM spaces WHERE space_id = $2
			ON CONFLICT (assistant_id) DO UPDATE SET name = EXCLUDED.name, instructions = EXCLUDED.instructions,
				model = EXCLUDED.model, retention_days = EXCLUDED.retention_days,
				log_model_payloads = EXCLUDED.log_model_payloads, created_at = EXCLUDED.created_at,
				updated_at = EXCLUDED.updated_at, position = EXCLUDED.position,
				created_by = EXCLUDED.created_by, updated_by = EXCLUDED.updated_by`,
			e.AssistantID, e.SpaceID, ref(ev, "name", e.Name), ref(ev, "instructions", e.Instructions), e.Model,
			e.RetentionDays, e.LogModelPayloads, at, pos(ev), metaOf(ev).Actor)
		return err
	case evAssistantUpdated:
		var e assistantWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE assistants SET name = $2, instructions = $3, model = $4, retention_days = $5,
				log_model_payloads = $6, updated_at = $7, updated_by = $8 WHERE assistant_id = $1`,
			e.AssistantID, ref(ev, "name", e.Name), ref(ev, "instructions", e.Instructions), e.Model,
			e.RetentionDays, e.LogModelPayloads, at, metaOf(ev).Actor)
		return err
	case evAssistantDeleted:
		var e assistantWire
		if err := decode(ev, &e); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM assistants WHERE assistant_id = $1`, e.AssistantID)
		return err
	}
	return nil
}

// deleteSpace deletes the spaces matching where ($1) with everything in them.
func deleteSpace(ctx context.Context, tx pgx.Tx, where string, arg any) error {
	ids, err := queryStrings(ctx, tx, `DELETE FROM spaces WHERE `+where+` RETURNING space_id`, arg)
	if err != nil || len(ids) == 0 {
		return err
	}
	for _, sql := range []string{
		`DELETE FROM space_members WHERE space_id = ANY($1)`,
		`DELETE FROM assistants WHERE space_id = ANY($1)`,
	} {
		if _, err := tx.Exec(ctx, sql, ids); err != nil {
			return err
		}
	}
	if err := deleteDocuments(ctx, tx, "space_id = ANY($1)", ids); err != nil {
		return err
	}
	return deleteConversations(ctx, tx, "space_id = ANY($1)", ids)
}
