package readmodels

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// ModelInvocation is one model call as the Admins' "what was sent to models" view shows it.
type ModelInvocation struct {
	InvocationID   string
	OrganizationID string
	SpaceID        string
	AssistantID    string
	UserID         string
	ConversationID string
	MessageID      string
	Model          domain.ModelID
	Region         domain.Region
	// Outcome is OK, ERROR, TIMEOUT or REFUSED; Error says why for the last three.
	Outcome  string
	Error    string
	Excerpts []domain.ExcerptRef
	// PayloadLogged reports whether the assistant logged payloads for this call.
	PayloadLogged bool
	// Request is the readable request payload: the exact bytes sent, with each run that
	// carried an erased document's (or otherwise erased) text replaced by
	// domain.RedactedMarker; nil when not logged or wholly unreadable. RequestComplete is
	// true when nothing was replaced.
	Request         *string
	RequestComplete bool
	// RequestSHA256 is the hex SHA-256 of the exact request bytes (also when not logged).
	RequestSHA256 string
	// Response is the raw response; nil when not logged or erased.
	Response         *string
	PromptTokens     int
	CompletionTokens int
	LatencyMillis    int64
	Attempts         int
	InvokedAt        time.Time
	Position         uint64
}

// ModelInvocationFilter selects invocations; every non-empty field must match. From is
// inclusive, To exclusive.
type ModelInvocationFilter struct {
	AssistantID string
	SpaceID     string
	UserID      string
	From        time.Time
	To          time.Time
}

type storedPart struct {
	Text      *sealedRef `json:"text"`
	Documents []string   `json:"documents"`
}

// ModelInvocations returns the organisation's model invocations matching f, newest first,
// decrypting payloads at query time. Only Admins may read them, and the caller must have
// recorded the read first (commands.ViewModelInvocations), so every read is audited.
func (r *Reader) ModelInvocations(ctx context.Context, orgID string, f ModelInvocationFilter, p Page) (Connection[ModelInvocation], error) {
	const op = "readmodels.ModelInvocations"
	limit, err := p.limit()
	if err != nil {
		return Connection[ModelInvocation]{}, err
	}
	where := []string{"organization_id = $1"}
	args := []any{orgID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if key, err := decodeCursor("invocations", p.After); err != nil {
		return Connection[ModelInvocation]{}, err
	} else if key != "" {
		ps, id, ok := strings.Cut(key, "/")
		n, perr := strconv.ParseInt(ps, 10, 64)
		if !ok || perr != nil {
			return Connection[ModelInvocation]{}, domain.E(domain.KindInvalid, op, "after is not a cursor of this list")
		}
		args = append(args, n, id)
		where = append(where, "(position, invocation_id) < ($"+strconv.Itoa(len(args)-1)+", $"+strconv.Itoa(len(args))+")")
	}
	if f.AssistantID != "" {
		add("assistant_id = ?", f.AssistantID)
	}
	if f.SpaceID != "" {
		add("space_id = ?", f.SpaceID)
	}
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if !f.From.IsZero() {
		add("invoked_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("invoked_at < ?", f.To)
	}
	args = append(args, limit+1)
	rows, err := r.pool.Query(ctx, `SELECT invocation_id, organization_id, space_id, assistant_id, user_id, conversation_id,
			message_id, model, region, outcome, coalesce(error, ''), excerpts, payload_logged, request_parts,
			coalesce(request_sha256, ''), response_payload, prompt_tokens, completion_tokens, latency_millis, attempts,
			invoked_at, position
		FROM model_invocations WHERE `+strings.Join(where, " AND ")+`
		ORDER BY position DESC, invocation_id DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return Connection[ModelInvocation]{}, pgErr(op, err)
	}
	type raw struct {
		inv   ModelInvocation
		parts []byte
		resp  []byte
	}
	var rs []raw
	for rows.Next() {
		var x raw
		var ex []byte
		var pos int64
		i := &x.inv
		if err := rows.Scan(&i.InvocationID, &i.OrganizationID, &i.SpaceID, &i.AssistantID, &i.UserID, &i.ConversationID,
			&i.MessageID, &i.Model, &i.Region, &i.Outcome, &i.Error, &ex, &i.PayloadLogged, &x.parts, &i.RequestSHA256,
			&x.resp, &i.PromptTokens, &i.CompletionTokens, &i.LatencyMillis, &i.Attempts, &i.InvokedAt, &pos); err != nil {
			rows.Close()
			return Connection[ModelInvocation]{}, pgErr(op, err)
		}
		i.Position = uint64(pos)
		if err := json.Unmarshal(ex, &i.Excerpts); err != nil {
			rows.Close()
			return Connection[ModelInvocation]{}, domain.Wrap(domain.KindInternal, op, err, "bad stored excerpts")
		}
		rs = append(rs, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Connection[ModelInvocation]{}, pgErr(op, err)
	}
	out := make([]ModelInvocation, 0, len(rs))
	for _, x := range rs {
		i := x.inv
		var parts []storedPart
		if err := json.Unmarshal(x.parts, &parts); err != nil {
			return Connection[ModelInvocation]{}, domain.Wrap(domain.KindInternal, op, err, "bad stored request parts")
		}
		if len(parts) > 0 {
			var b strings.Builder
			complete, readable := true, false
			for _, p := range parts {
				s, err := r.open(ctx, p.Text)
				if err != nil {
					return Connection[ModelInvocation]{}, err
				}
				if s == nil {
					b.WriteString(domain.RedactedMarker)
					complete = false
					continue
				}
				readable = true
				b.WriteString(*s)
			}
			if readable {
				req := b.String()
				i.Request = &req
			}
			i.RequestComplete = complete
		}
		if len(x.resp) > 0 {
			var ref sealedRef
			if err := json.Unmarshal(x.resp, &ref); err != nil {
				return Connection[ModelInvocation]{}, domain.Wrap(domain.KindInternal, op, err, "bad stored response")
			}
			if i.Response, err = r.open(ctx, &ref); err != nil {
				return Connection[ModelInvocation]{}, err
			}
		}
		out = append(out, i)
	}
	return connection(out, limit, func(i ModelInvocation) string {
		return encodeCursor("invocations", strconv.FormatUint(i.Position, 10)+"/"+i.InvocationID)
	}), nil
}
