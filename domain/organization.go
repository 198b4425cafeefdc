package domain

// Organization is the tenant: every other aggregate belongs to exactly one organisation.
type Organization struct {
	root
	settings  OrganizationSettings
	providers []IdentityProvider
	// signIns are the providers' sign-in settings, by (issuer, audience).
	signIns map[[2]string]SignIn
}

// OrganizationCreated records a new organisation with its initial settings.
type OrganizationCreated struct {
	OrganizationID string               `json:"organizationId"`
	Name           Sealed               `json:"name"`
	Settings       OrganizationSettings `json:"settings"`
}

// EventName implements Event.
func (OrganizationCreated) EventName() string { return "organization.created.v1" }

// OrganizationSettingsChanged records the organisation's complete new settings.
type OrganizationSettingsChanged struct {
	OrganizationID string               `json:"organizationId"`
	Settings       OrganizationSettings `json:"settings"`
	// Changes is the field-level diff against the previous settings (absent in older
	// events).
	Changes []SettingChange `json:"changes,omitempty"`
}

// EventName implements Event.
func (OrganizationSettingsChanged) EventName() string { return "organization.settings_changed.v1" }

// NewOrganization returns an empty organisation aggregate with the given id.
func NewOrganization(id string) *Organization {
	return &Organization{root: newRoot(StreamPrefixOrganization, id)}
}

// Create records the organisation's creation. The name is sealed under the organisation.
func (o *Organization) Create(name string, settings OrganizationSettings) error {
	const op = "organization.create"
	if o.created() {
		return errExists(op, "organisation")
	}
	if err := ValidateID("organisation id", o.id); err != nil {
		return err
	}
	n, err := NewName("organisation name", name)
	if err != nil {
		return err
	}
	if err := settings.Validate(); err != nil {
		return err
	}
	record(o, OrganizationCreated{OrganizationID: o.id, Name: Seal(n, OrganizationSubject(o.id)), Settings: settings})
	return nil
}

// ChangeSettings validates and records new settings. Unchanged settings record nothing.
func (o *Organization) ChangeSettings(s OrganizationSettings) error {
	const op = "organization.change_settings"
	if !o.created() {
		return errGone(op, "organisation")
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if settingsEqual(o.settings, s) {
		return nil
	}
	record(o, OrganizationSettingsChanged{OrganizationID: o.id, Settings: s, Changes: DiffSettings(o.settings, s)})
	return nil
}

// Settings returns the organisation's current settings.
func (o *Organization) Settings() OrganizationSettings { return o.settings }

func (o *Organization) apply(e Event) {
	switch e := e.(type) {
	case OrganizationCreated:
		o.org = e.OrganizationID
		o.settings = e.Settings
	case OrganizationSettingsChanged:
		o.settings = e.Settings
	case IdentityProviderConfigured, IdentityProviderRemoved:
		o.applyProvider(e)
	case IdentityProviderSignInConfigured:
		o.applySignIn(e)
	}
}

func settingsEqual(a, b OrganizationSettings) bool {
	if len(a.Models) != len(b.Models) || len(a.ClassificationLevels) != len(b.ClassificationLevels) {
		return false
	}
	for i := range a.Models {
		if a.Models[i] != b.Models[i] {
			return false
		}
	}
	for i := range a.ClassificationLevels {
		if a.ClassificationLevels[i] != b.ClassificationLevels[i] {
			return false
		}
	}
	return a.DefaultMessageRetentionDays == b.DefaultMessageRetentionDays &&
		a.AuditRetention == b.AuditRetention && a.ErasureGraceDays == b.ErasureGraceDays &&
		a.SessionIdleTimeoutMinutes == b.SessionIdleTimeoutMinutes && a.Password == b.Password &&
		a.MFARequired == b.MFARequired && a.EUOnly == b.EUOnly && a.ModelPayloadRetentionDays == b.ModelPayloadRetentionDays &&
		a.ForbidModelPayloadLogging == b.ForbidModelPayloadLogging
}
