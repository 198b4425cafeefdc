package domain

import "unicode/utf8"

// MaxInstructionRunes is the longest assistant instruction text accepted.
const MaxInstructionRunes = 20000

// Assistant answers questions in one space with one model.
type Assistant struct {
	root
	spec    AssistantSpec
	deleted bool
}

// AssistantSpec is what an assistant is configured with.
type AssistantSpec struct {
	Name         string
	Instructions string
	Model        ModelID
	// RetentionDays is how long messages with the assistant are kept; 0 inherits the
	// organisation's default.
	RetentionDays int
	// LogModelPayloads says whether model requests and responses are recorded.
	LogModelPayloads bool
	// MaxExcerpts is the most document excerpts sent to the model per question; 0 is the
	// default (DefaultMaxExcerpts). Models hosted outside the EU get at most NonEUMaxExcerpts.
	MaxExcerpts int
	// MaxExcerptChars is the most characters of excerpts sent per question; 0 is the
	// default (DefaultMaxExcerptChars). Outside the EU at most NonEUMaxExcerptChars.
	MaxExcerptChars int
}

// AssistantCreated records a new assistant. Name and instructions are sealed under the
// space.
type AssistantCreated struct {
	AssistantID      string  `json:"assistantId"`
	OrganizationID   string  `json:"organizationId"`
	SpaceID          string  `json:"spaceId"`
	Name             Sealed  `json:"name"`
	Instructions     Sealed  `json:"instructions"`
	Model            ModelID `json:"model"`
	RetentionDays    int     `json:"retentionDays"`
	LogModelPayloads bool    `json:"logModelPayloads"`
	MaxExcerpts      int     `json:"maxExcerpts,omitempty"`
	MaxExcerptChars  int     `json:"maxExcerptChars,omitempty"`
}

// EventName implements Event.
func (AssistantCreated) EventName() string { return "assistant.created.v1" }

// AssistantUpdated records an assistant's complete new configuration.
type AssistantUpdated struct {
	AssistantID      string  `json:"assistantId"`
	Name             Sealed  `json:"name"`
	Instructions     Sealed  `json:"instructions"`
	Model            ModelID `json:"model"`
	RetentionDays    int     `json:"retentionDays"`
	LogModelPayloads bool    `json:"logModelPayloads"`
	MaxExcerpts      int     `json:"maxExcerpts,omitempty"`
	MaxExcerptChars  int     `json:"maxExcerptChars,omitempty"`
}

// EventName implements Event.
func (AssistantUpdated) EventName() string { return "assistant.updated.v1" }

// AssistantDeleted records that the assistant is gone.
type AssistantDeleted struct {
	AssistantID string `json:"assistantId"`
}

// EventName implements Event.
func (AssistantDeleted) EventName() string { return "assistant.deleted.v1" }

// NewAssistant returns an empty assistant aggregate with the given id.
func NewAssistant(id string) *Assistant {
	return &Assistant{root: newRoot(StreamPrefixAssistant, id)}
}

// Create records a new assistant in space, whose model must be enabled there.
func (a *Assistant) Create(space *Space, spec AssistantSpec) error {
	const op = "assistant.create"
	if a.created() {
		return errExists(op, "assistant")
	}
	if err := ValidateID("assistant id", a.id); err != nil {
		return err
	}
	if !space.Live() {
		return errGone(op, "space")
	}
	spec, err := spec.validate(space)
	if err != nil {
		return err
	}
	sub := SpaceSubject(space.ID())
	record(a, AssistantCreated{
		AssistantID: a.id, OrganizationID: space.OrganizationID(), SpaceID: space.ID(),
		Name: Seal(spec.Name, sub), Instructions: Seal(spec.Instructions, sub), Model: spec.Model,
		RetentionDays: spec.RetentionDays, LogModelPayloads: spec.LogModelPayloads,
		MaxExcerpts: spec.MaxExcerpts, MaxExcerptChars: spec.MaxExcerptChars,
	})
	return nil
}

// Update records the assistant's new configuration (an unchanged one records nothing).
func (a *Assistant) Update(space *Space, spec AssistantSpec) error {
	const op = "assistant.update"
	if err := a.alive(op); err != nil {
		return err
	}
	spec, err := spec.validate(space)
	if err != nil {
		return err
	}
	if spec == a.spec {
		return nil
	}
	sub := SpaceSubject(a.space)
	record(a, AssistantUpdated{
		AssistantID: a.id, Name: Seal(spec.Name, sub), Instructions: Seal(spec.Instructions, sub),
		Model: spec.Model, RetentionDays: spec.RetentionDays, LogModelPayloads: spec.LogModelPayloads,
		MaxExcerpts: spec.MaxExcerpts, MaxExcerptChars: spec.MaxExcerptChars,
	})
	return nil
}

// Delete records that the assistant is gone.
func (a *Assistant) Delete() error {
	const op = "assistant.delete"
	if err := a.alive(op); err != nil {
		return err
	}
	record(a, AssistantDeleted{AssistantID: a.id})
	return nil
}

// Live reports whether the assistant exists and is not deleted.
func (a *Assistant) Live() bool { return a.created() && !a.deleted }

// Model returns the assistant's model.
func (a *Assistant) Model() ModelID { return a.spec.Model }

// LogsModelPayloads reports whether model payloads are recorded.
func (a *Assistant) LogsModelPayloads() bool { return a.spec.LogModelPayloads }

// Spec returns the assistant's current configuration.
func (a *Assistant) Spec() AssistantSpec { return a.spec }

// RetentionDays returns the assistant's message retention, 0 when inherited.
func (a *Assistant) RetentionDays() int { return a.spec.RetentionDays }

func (a *Assistant) alive(op string) error {
	if !a.Live() {
		return errGone(op, "assistant")
	}
	return nil
}

func (spec AssistantSpec) validate(space *Space) (AssistantSpec, error) {
	const op = "assistant.validate"
	n, err := NewName("assistant name", spec.Name)
	if err != nil {
		return spec, err
	}
	spec.Name = n
	if !utf8.ValidString(spec.Instructions) || utf8.RuneCountInString(spec.Instructions) > MaxInstructionRunes {
		return spec, Errorf(KindInvalid, op, "instructions must be valid UTF-8 of at most %d characters", MaxInstructionRunes)
	}
	if _, err := NewModelID(string(spec.Model)); err != nil {
		return spec, err
	}
	if !space.ModelEnabled(spec.Model) {
		return spec, Errorf(KindInvalid, op, "model %s is not enabled in the space", spec.Model)
	}
	if err := ValidateRetrievalSettings(spec.MaxExcerpts, spec.MaxExcerptChars); err != nil {
		return spec, err
	}
	if spec.RetentionDays != 0 {
		if err := ValidateRetentionDays("assistant retention", spec.RetentionDays); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

func (a *Assistant) apply(e Event) {
	switch e := e.(type) {
	case AssistantCreated:
		a.org, a.space = e.OrganizationID, e.SpaceID
		a.spec = AssistantSpec{Name: e.Name.Plain, Instructions: e.Instructions.Plain, Model: e.Model,
			RetentionDays: e.RetentionDays, LogModelPayloads: e.LogModelPayloads,
			MaxExcerpts: e.MaxExcerpts, MaxExcerptChars: e.MaxExcerptChars}
	case AssistantUpdated:
		a.spec = AssistantSpec{Name: e.Name.Plain, Instructions: e.Instructions.Plain, Model: e.Model,
			RetentionDays: e.RetentionDays, LogModelPayloads: e.LogModelPayloads,
			MaxExcerpts: e.MaxExcerpts, MaxExcerptChars: e.MaxExcerptChars}
	case AssistantDeleted:
		a.deleted = true
	}
}
