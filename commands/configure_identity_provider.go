package commands

import (
	"context"

	"github.com/arkiv/arkiv/domain"
)

// ConfigureIdentityProvider makes the actor's organisation accept the OIDC access tokens of
// an identity provider for an audience and sign people in through it, or replaces the
// settings of one it has (Admins). Empty AllowedAMR and AcceptedACR mean authentication's
// defaults.
//
// An organisation configures a pair it does not have only with ProofToken: a token that
// issuer issued for that audience to the configuring Admin (its subject is the Admin's user
// id, or its verified e-mail address is the Admin's), verified against the issuer's JWKS.
// For a multi-tenant issuer (Entra "common" or "organizations") the proof's tenant ("tid")
// is pinned: every token accepted for the provider must carry it. A pair (issuer, audience)
// another organisation has configured is refused (KindConflict); a proof that does not
// verify or names someone else is KindForbidden.
type ConfigureIdentityProvider struct {
	Meta
	Issuer      string
	Audience    string
	AllowedAMR  []string
	AcceptedACR []string
	// ProofToken is the proof of control (required for a pair new to the organisation).
	ProofToken string
	// DisplayName labels the console's "Sign in with …" button.
	DisplayName string
	// ClientSecret authenticates Arkiv at the provider's token endpoint (empty: a public
	// client, PKCE only; in an update, the current secret stays). It is sealed under the
	// organisation in the log.
	ClientSecret string
	// JustInTime creates a user on the first sign-in of a person the organisation does not
	// know (off by default).
	JustInTime bool
	// GroupRoles maps the provider's groups and app roles to organisation and space roles,
	// applied at every sign-in (ApplyDirectoryGroups).
	GroupRoles []domain.GroupRole
}

// configureIdentityProvider runs ConfigureIdentityProvider. The result's ID is the organisation's.
func (x *executor) configureIdentityProvider(ctx context.Context, c ConfigureIdentityProvider) (Result, error) {
	const op = string(domain.CmdConfigureIdentityProvider)
	return x.run(ctx, c.Meta, spec{
		cmd:    domain.CmdConfigureIdentityProvider,
		target: func(act actor) domain.Aggregate { return domain.NewOrganization(act.org) },
		decide: func(ctx context.Context, act actor, t domain.Aggregate) error {
			o := t.(*domain.Organization)
			p, err := domain.NewIdentityProvider(c.Issuer, c.Audience, c.AllowedAMR, c.AcceptedACR)
			if err != nil {
				return err
			}
			old, had := o.SignInOf(p.Issuer, p.Audience)
			known := hasProvider(o, p.Issuer, p.Audience)
			signIn := domain.SignIn{DisplayName: c.DisplayName, ClientSecret: domain.Seal(c.ClientSecret),
				JustInTime: c.JustInTime, GroupRoles: c.GroupRoles, TenantID: old.TenantID, TokenIssuer: old.TokenIssuer}
			if c.ClientSecret == "" && had {
				signIn.ClientSecret = old.ClientSecret // omitted: the current secret stays
			}
			if _, err := domain.NewSignIn(act.org, signIn); err != nil {
				return err
			}
			if !known || c.ProofToken != "" {
				proof, err := x.proveControl(ctx, act, p.Issuer, p.Audience, c.ProofToken)
				if err != nil {
					return err
				}
				if known && had && old.TenantID != proof.TenantID {
					return domain.E(domain.KindConflict, op, "the proof names another tenant than the one pinned: remove the provider and configure it again")
				}
				signIn.TenantID, signIn.TokenIssuer = proof.TenantID, proof.TokenIssuer
			}
			// The pair is the organisation's only once its reservation stream says so: one
			// another organisation holds is refused, never re-routed. A multi-tenant
			// issuer's pair is reserved per tenant, as its tokens' issuer names it.
			if err := x.claimIdentityProvider(ctx, act, reservedIssuer(p.Issuer, signIn), p.Audience, true); err != nil {
				return err
			}
			if err := o.ConfigureIdentityProvider(p); err != nil {
				return err
			}
			return o.ConfigureSignIn(p.Issuer, p.Audience, signIn, act.id)
		},
	})
}

func hasProvider(o *domain.Organization, issuer, audience string) bool {
	for _, p := range o.IdentityProviders() {
		if p.Issuer == issuer && p.Audience == audience {
			return true
		}
	}
	return false
}

// reservedIssuer is the issuer a pair is reserved under: the tenant's token issuer for a
// multi-tenant issuer, the issuer otherwise.
func reservedIssuer(issuer string, s domain.SignIn) string {
	if s.TokenIssuer != "" {
		return s.TokenIssuer
	}
	return issuer
}

// proveControl verifies the proof token and that it was issued to the actor: its subject is
// the actor's user id, or its verified e-mail address is reserved to the actor in the
// organisation.
func (x *executor) proveControl(ctx context.Context, act actor, issuer, audience, token string) (IdentityProof, error) {
	const op = string(domain.CmdConfigureIdentityProvider)
	if token == "" {
		return IdentityProof{}, domain.E(domain.KindInvalid, op,
			"configuring an identity provider needs proof of control: a token the provider issued for this audience to you (proofToken)")
	}
	if x.d.Proofs == nil {
		return IdentityProof{}, domain.E(domain.KindUnavailable, op, "proofs of control cannot be checked on this server")
	}
	proof, err := x.d.Proofs.VerifyIdentityProof(ctx, issuer, audience, token)
	if err != nil {
		return IdentityProof{}, err
	}
	if proof.Subject == act.id {
		return proof, nil
	}
	if proof.Email != "" {
		if mail, err := domain.NewEmail(proof.Email); err == nil {
			r := domain.NewEmailReservation(act.org, mail)
			if _, err := x.load(ctx, r); err != nil {
				return IdentityProof{}, err
			}
			if r.Holder() == act.id {
				return proof, nil
			}
		}
	}
	return IdentityProof{}, domain.E(domain.KindForbidden, op, "the proof token was not issued to you: sign in at the provider as yourself")
}

// claimIdentityProvider claims (claim true) or releases the reservation stream of (issuer,
// audience) for the actor's organisation, appending with the stream's revision as the
// expected one, so two organisations racing for a pair cannot both hold it.
func (x *executor) claimIdentityProvider(ctx context.Context, act actor, issuer, audience string, claim bool) error {
	c := domain.NewIdentityProviderClaim(issuer, audience)
	recs, err := x.load(ctx, c)
	if err != nil {
		return err
	}
	if claim {
		if err := c.Claim(act.org, issuer, audience); err != nil {
			return err
		}
	} else {
		c.Release(act.org, issuer, audience)
	}
	if len(c.Changes()) == 0 {
		return nil
	}
	_, err = x.append(ctx, act.meta, act.id, c, recs)
	return err
}
