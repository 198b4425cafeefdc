package graphql

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/arkiv/arkiv/domain"
)

// settingsFromInput turns updateOrganizationSettings' input into domain settings; the
// domain validates them.
func settingsFromInput(in UpdateOrganizationSettingsInput) domain.OrganizationSettings {
	s := domain.OrganizationSettings{
		Models:                      make([]domain.AllowedModel, len(in.Models)),
		ClassificationLevels:        make([]domain.Classification, len(in.ClassificationLevels)),
		DefaultMessageRetentionDays: in.DefaultMessageRetentionDays,
		AuditRetention:              domain.AuditRetention{Mode: auditModeToDomain(in.AuditRetention.Mode), Days: in.AuditRetention.Days},
		ErasureGraceDays:            in.ErasureGraceDays,
		SessionIdleTimeoutMinutes:   in.SessionIdleTimeoutMinutes,
		Password: domain.PasswordPolicy{MinLength: in.Password.MinLength, RequireUpper: in.Password.RequireUpper,
			RequireDigit: in.Password.RequireDigit, RequireSymbol: in.Password.RequireSymbol,
			MaxAgeDays: in.Password.MaxAgeDays, HistoryEntries: in.Password.HistoryEntries},
		MFARequired: in.MfaRequired,
		EUOnly:      in.EuOnly,
	}
	for i, m := range in.Models {
		s.Models[i] = domain.AllowedModel{ID: domain.ModelID(m.ID), Endpoint: m.Endpoint,
			Region: domain.Region(m.Region), MaxClassification: domain.Classification(m.MaxClassification)}
	}
	for i, c := range in.ClassificationLevels {
		s.ClassificationLevels[i] = domain.Classification(c)
	}
	return s
}

func auditModeToDomain(m AuditRetentionMode) string {
	switch m {
	case AuditRetentionModeDays30:
		return domain.AuditRetention30
	case AuditRetentionModeDays90:
		return domain.AuditRetention90
	case AuditRetentionModeCustom:
		return domain.AuditRetentionCustom
	}
	return string(m)
}

func auditModeFromDomain(m string) AuditRetentionMode {
	switch m {
	case domain.AuditRetention30:
		return AuditRetentionModeDays30
	case domain.AuditRetention90:
		return AuditRetentionModeDays90
	}
	return AuditRetentionModeCustom
}

// SettingsToSchema renders domain settings.
func SettingsToSchema(s domain.OrganizationSettings) *OrganizationSettings {
	out := &OrganizationSettings{
		Models:                      make([]AllowedModel, len(s.Models)),
		ClassificationLevels:        make([]string, len(s.ClassificationLevels)),
		DefaultMessageRetentionDays: s.DefaultMessageRetentionDays,
		AuditRetentionMode:          auditModeFromDomain(s.AuditRetention.Mode),
		AuditRetentionDays:          s.AuditRetention.Days,
		ErasureGraceDays:            s.ErasureGraceDays,
		SessionIdleTimeoutMinutes:   s.SessionIdleTimeoutMinutes,
		PasswordMinLength:           s.Password.MinLength,
		MfaRequired:                 s.MFARequired,
		EuOnly:                      s.EUOnly,
	}
	for i, m := range s.Models {
		out.Models[i] = AllowedModel{ID: string(m.ID), Endpoint: m.Endpoint, Region: Region(m.Region), MaxClassification: string(m.MaxClassification)}
	}
	for i, c := range s.ClassificationLevels {
		out.ClassificationLevels[i] = string(c)
	}
	return out
}

func assistantSpec(name, instructions, model string, retention *int, logPayloads *bool) domain.AssistantSpec {
	spec := domain.AssistantSpec{Name: name, Instructions: instructions, Model: domain.ModelID(model)}
	if retention != nil {
		spec.RetentionDays = *retention
	}
	if logPayloads != nil {
		spec.LogModelPayloads = *logPayloads
	}
	return spec
}

func subjectKind(t ErasureSubjectType) domain.SubjectKind {
	switch t {
	case ErasureSubjectTypeUser:
		return domain.SubjectUser
	case ErasureSubjectTypeDocument:
		return domain.SubjectDocument
	case ErasureSubjectTypeConversation:
		return domain.SubjectConversation
	case ErasureSubjectTypeSpace:
		return domain.SubjectSpace
	case ErasureSubjectTypeOrganization:
		return domain.SubjectOrganization
	}
	return ""
}

func models(ids []string) []domain.ModelID {
	out := make([]domain.ModelID, len(ids))
	for i, id := range ids {
		out[i] = domain.ModelID(id)
	}
	return out
}

// requestInfo is what resolvers need of the HTTP request: the remote address (login rate
// limits) and the bearer token (logout).
type requestInfo struct {
	remoteIP string
	token    string
}

type requestInfoKey struct{}

// withRequestInfo records r's remote address and bearer token in ctx.
func withRequestInfo(ctx context.Context, r *http.Request, remoteIP string) context.Context {
	info := requestInfo{remoteIP: remoteIP}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		info.token = strings.TrimSpace(h[7:])
	}
	if info.remoteIP == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			info.remoteIP = host
		}
	}
	return context.WithValue(ctx, requestInfoKey{}, info)
}

func requestInfoFrom(ctx context.Context) requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	return info
}
