package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// HashAPIKey returns the SHA-256 of the whole key string, as APIKeyStore looks it up. It is
// the binary form of domain.HashAPIKey's hex.
func HashAPIKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

// authenticateAPIKey checks an API key. Unknown, malformed and revoked keys all get the same
// error, so a caller cannot tell a revoked key from one that never existed.
func (a *Authenticator) authenticateAPIKey(ctx context.Context, key string) (Principal, error) {
	const op = "auth.apikey"
	invalid := func() error { return domain.E(domain.KindUnauthenticated, op, "invalid API key") }
	if domain.APIKeyPrefix(key) == "" {
		return Principal{}, invalid()
	}
	h := HashAPIKey(key)
	rec, err := a.cfg.APIKeys.LookupAPIKey(ctx, h)
	if domain.Is(domain.KindNotFound, err) {
		return Principal{}, invalid()
	}
	if err != nil {
		return Principal{}, domain.Wrap(domain.KindUnavailable, op, err, "API keys cannot be checked right now")
	}
	match := subtle.ConstantTimeCompare(rec.Hash[:], h[:]) == 1
	if !match || rec.Revoked {
		return Principal{}, invalid()
	}
	p := Principal{OrganizationID: rec.OrganizationID, Method: MethodAPIKey, KeyID: rec.KeyID}
	if rec.OwnerKind == domain.KeyOwnerAssistant {
		p.AssistantID = rec.OwnerID
	} else {
		p.UserID = rec.OwnerID
		// A deactivated or erased owner's key is refused before its use is recorded.
		if rec.OwnerActive != nil {
			if !*rec.OwnerActive {
				return Principal{}, domain.E(domain.KindUnauthenticated, op, "user is not active")
			}
		} else if err := a.checkActive(ctx, op, p.OrganizationID, p.UserID); err != nil {
			return Principal{}, err
		}
	}
	a.recordUse(WithPrincipal(ctx, p), rec)
	return p, nil
}

// maxTrackedKeys bounds the throttle's memory; beyond it, entries older than UseInterval go.
const maxTrackedKeys = 10000

// recordUse reports the key's use to the UsageRecorder unless this process reported it less
// than UseInterval ago. The throttle is per process: with N API replicas a busy key records
// at most N uses per interval. A failing recorder is logged and does not refuse the request;
// the next report is tried after the interval.
func (a *Authenticator) recordUse(ctx context.Context, rec APIKeyRecord) {
	now := a.clock.Now()
	a.useMu.Lock()
	last, seen := a.lastUse[rec.KeyID]
	if seen && now.Sub(last) < a.cfg.UseInterval {
		a.useMu.Unlock()
		return
	}
	if len(a.lastUse) >= maxTrackedKeys {
		for id, t := range a.lastUse {
			if now.Sub(t) >= a.cfg.UseInterval {
				delete(a.lastUse, id)
			}
		}
	}
	a.lastUse[rec.KeyID] = now
	a.useMu.Unlock()

	// The use is recorded even when the client goes away mid-request.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := a.cfg.Usage.RecordAPIKeyUse(rctx, rec.KeyID, rec.OrganizationID); err != nil {
		a.log.WarnContext(ctx, "recording API key use failed", "key_id", rec.KeyID,
			"organization_id", rec.OrganizationID, "kind", domain.KindOf(err).String(), "error", err.Error())
	}
}
