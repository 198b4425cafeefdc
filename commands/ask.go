package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/arkiv/arkiv/domain"
)

// Ask is a user's question to the assistant of their conversation: the message is recorded,
// excerpts are retrieved from the space's documents within the assistant's limits, sent to
// the assistant's model if the organisation's policy allows it, and the reply recorded with
// exactly what was sent (space members, in their own conversation).
type Ask struct {
	Meta
	ConversationID string
	// MessageID is the question's id; empty derives one from the command id.
	MessageID string
	Text      string
	// OnToken, when set, receives the reply's text as it is generated (the GraphQL
	// subscription). Tokens may arrive before the exchange is recorded; a failed call
	// streams nothing that is then recorded as a reply.
	OnToken func(delta string)
}

// AskResult is the recorded exchange.
type AskResult struct {
	MessageID    string
	ReplyID      string
	InvocationID string
	// Reply is the assistant's answer.
	Reply    string
	Excerpts []domain.ExcerptRef
	Model    domain.ModelID
	Region   domain.Region
	// Position is the commit position of the exchange's last event.
	Position uint64
	// SentAt is when the message was recorded (its event's sentAt); RepliedAt when the reply
	// was (the reply event's recordedAt; zero without a reply).
	SentAt, RepliedAt time.Time
}

// systemPrompt frames every request; the assistant's instructions follow it.
const systemPrompt = "You are an assistant answering questions with the numbered document excerpts provided. " +
	"Use only those excerpts, cite them as [1], [2], and say so when they do not contain the answer."

// recordTimeout bounds recording an exchange after the caller has gone away.
const recordTimeout = 30 * time.Second

// ask runs the exchange; without a retriever and models it is KindUnavailable. A refusal
// by the model policy is recorded (an invocation with outcome REFUSED and an access.denied
// event) and returned as KindForbidden; a model that fails after its retries is recorded
// as a failed invocation and returned as KindUnavailable. Message, invocation and reply
// are appended together or not at all.
func (x *executor) ask(ctx context.Context, c Ask) (AskResult, error) {
	const op = "Ask"
	if x.d.Retriever == nil {
		return AskResult{}, errNoAssistants
	}
	if err := domain.ValidateID("conversation id", c.ConversationID); err != nil {
		return AskResult{}, err
	}
	r := AskResult{
		MessageID:    orDefault(c.MessageID, DerivedID(c.CommandID, "message")),
		ReplyID:      DerivedID(c.CommandID, "reply"),
		InvocationID: DerivedID(c.CommandID, "invocation"),
	}
	act, err := x.loadActor(ctx, c.Meta, domain.CmdSendMessage)
	if err != nil {
		return AskResult{}, err
	}
	conv := domain.NewConversation(c.ConversationID)
	recs, err := x.load(ctx, conv)
	if err != nil {
		return AskResult{}, err
	}
	if _, ok := applied(recs, c.CommandID, conv.Stream()); ok {
		return x.prior(ctx, recs, c.CommandID, conv.Stream(), r)
	}
	if conv.OrganizationID() == "" {
		return AskResult{}, domain.E(domain.KindNotFound, op, "conversation not found")
	}
	if err := x.authorize(ctx, c.Meta, act, domain.CmdSendMessage, conv, domain.Aggregate.SpaceID); err != nil {
		return AskResult{}, err
	}
	now := x.d.Clock.Now().UTC()
	// Validate the message (ownership, text) before anything leaves the process.
	if err := conv.SendMessage(r.MessageID, act.id, c.Text, now); err != nil {
		if domain.Is(domain.KindForbidden, err) {
			x.deny(ctx, c.Meta, act, domain.CmdSendMessage, conv.Stream(), conv.OrganizationID(), domain.SpaceRoleNone, domain.ReasonNotOwner)
		}
		return AskResult{}, err
	}
	space, asst, org := domain.NewSpace(conv.SpaceID()), domain.NewAssistant(conv.AssistantID()), domain.NewOrganization(act.org)
	for _, a := range []domain.Aggregate{space, asst, org} {
		if _, err := x.load(ctx, a); err != nil {
			return AskResult{}, err
		}
	}
	if !asst.Live() || !space.Live() {
		return AskResult{}, domain.E(domain.KindNotFound, op, "the conversation's assistant or space is gone")
	}
	r.Model = asst.Model()
	settings, refusal := x.catalogSettings(org.Settings(), asst.Model())
	if refusal != nil {
		return x.refuse(ctx, c, act, conv.Stream(), r, org.Settings(), refusal)
	}
	model, refusal := domain.CheckModelUse(settings, space.Classification(), space.Models(), asst.Model())
	if refusal != nil {
		return x.refuse(ctx, c, act, conv.Stream(), r, settings, refusal)
	}
	r.Region = model.Region
	spec := asst.Spec()
	limits := domain.LimitsFor(spec.MaxExcerpts, spec.MaxExcerptChars, model.Region)
	cands, err := x.d.Retriever.Retrieve(ctx, conv.SpaceID(), c.Text, 4*limits.MaxExcerpts)
	if domain.Is(domain.KindForbidden, err) {
		// The model policy keeps the question from the external embedder (the refusal is
		// recorded by the embedder's check): say why.
		return AskResult{}, err
	}
	if err != nil {
		return AskResult{}, domain.Wrap(domain.KindUnavailable, op, err, "the space's documents cannot be searched right now; please try again")
	}
	selected := domain.SelectExcerpts(cands, limits)
	req := buildRequest(model, spec.Instructions, c.Text, selected)
	req.OnToken = c.OnToken
	for _, s := range selected {
		r.Excerpts = append(r.Excerpts, s.Ref())
	}
	inv := domain.ModelInvocation{PayloadLoggingForbidden: org.Settings().ForbidModelPayloadLogging,
		InvocationID: r.InvocationID, MessageID: r.MessageID, Model: model.ID,
		Region: model.Region, Excerpts: r.Excerpts}
	provider, err := x.d.Models.Provider(model)
	var res ModelResponse
	start := time.Now()
	if err == nil {
		res, err = provider.Complete(ctx, req)
	}
	inv.LatencyMillis = time.Since(start).Milliseconds()
	inv.RequestPayload, inv.RequestParts = string(res.RequestPayload), res.RequestParts
	inv.ResponsePayload = string(res.ResponsePayload)
	inv.PromptTokens, inv.CompletionTokens, inv.Attempts = res.PromptTokens, res.CompletionTokens, res.Attempts
	reply := strings.TrimSpace(res.Text)
	if err == nil && reply == "" {
		err = domain.E(domain.KindUnavailable, op, "the model returned an empty answer")
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err != nil {
		inv.Outcome, inv.Error = domain.OutcomeError, failurePhrase(err)
		if res.Timeout {
			inv.Outcome = domain.OutcomeTimeout
		}
		pos, aerr := x.appendExchange(rctx, c, act, r, &r.SentAt, func(cv *domain.Conversation, a *domain.Assistant, at time.Time) error {
			return cv.RecordModelInvocation(a, inv, act.id, at)
		})
		if aerr != nil {
			return AskResult{}, aerr
		}
		r.Position = pos
		msg := "the assistant's model did not answer; please try again"
		if inv.Outcome == domain.OutcomeTimeout {
			msg = "the assistant's model timed out; please try again"
		}
		return r, domain.Wrap(domain.KindUnavailable, op, err, msg)
	}
	r.Reply = truncateBytes(reply, domain.MaxMessageBytes)
	inv.Outcome = domain.OutcomeOK
	pos, err := x.appendExchange(rctx, c, act, r, &r.SentAt, func(cv *domain.Conversation, a *domain.Assistant, at time.Time) error {
		if err := cv.RecordModelInvocation(a, inv, act.id, at); err != nil {
			return err
		}
		return cv.RecordReply(r.ReplyID, r.MessageID, r.Reply, r.Excerpts, act.id, at)
	})
	r.RepliedAt = r.SentAt
	if err != nil {
		return AskResult{}, err
	}
	r.Position = pos
	return r, nil
}

// refuse records the refused exchange and its denial, and returns the refusal.
func (x *executor) refuse(ctx context.Context, c Ask, act actor, stream string, r AskResult, s domain.OrganizationSettings, refusal error) (AskResult, error) {
	inv := domain.ModelInvocation{InvocationID: r.InvocationID, MessageID: r.MessageID, Model: r.Model,
		Outcome: domain.OutcomeRefused, Error: refusalPhrase(refusal)}
	if m, ok := s.Model(r.Model); ok {
		inv.Region = m.Region
		r.Region = m.Region
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	pos, err := x.appendExchange(rctx, c, act, r, &r.SentAt, func(cv *domain.Conversation, a *domain.Assistant, at time.Time) error {
		return cv.RecordModelInvocation(a, inv, act.id, at)
	})
	if err != nil {
		return AskResult{}, err
	}
	r.Position = pos
	ev := domain.AccessDenied{Actor: act.id, Command: domain.CmdSendMessage, TargetStream: stream, OrgRole: act.role,
		Reason: domain.ReasonModelPolicy, DeniedAt: x.d.Clock.Now().UTC()}
	if _, err := x.appendAccess(rctx, c.Meta, act, ev, "model-refused"); err != nil {
		return r, domain.Wrap(domain.KindForbidden, "Ask", err, refusalPhrase(refusal))
	}
	return r, refusal
}

// appendExchange appends the message and what record adds in one append to the
// conversation, reloading and redoing through retryStale on a concurrent change. A retried
// command whose events are already there appends nothing.
func (x *executor) appendExchange(ctx context.Context, c Ask, act actor, r AskResult, recorded *time.Time,
	record func(*domain.Conversation, *domain.Assistant, time.Time) error) (uint64, error) {
	return retryStale(ctx, "Ask", maxAttempts, func() (uint64, error) {
		conv := domain.NewConversation(c.ConversationID)
		recs, err := x.load(ctx, conv)
		if err != nil {
			return 0, err
		}
		if pos, ok := applied(recs, c.CommandID, conv.Stream()); ok {
			if recorded != nil {
				// The exchange's own events say when it was recorded.
				prev, _ := x.prior(ctx, recs, c.CommandID, conv.Stream(), r)
				*recorded = prev.SentAt
			}
			return pos, nil
		}
		asst := domain.NewAssistant(conv.AssistantID())
		if _, err := x.load(ctx, asst); err != nil {
			return 0, err
		}
		at := x.d.Clock.Now().UTC()
		if err := conv.SendMessage(r.MessageID, act.id, c.Text, at); err != nil {
			return 0, err
		}
		if err := record(conv, asst, at); err != nil {
			return 0, err
		}
		if recorded != nil {
			*recorded = at
		}
		pos, err := x.append(ctx, c.Meta, act.id, conv, recs)
		return pos, staleOr(err)
	})
}

// prior rebuilds the result of an exchange already recorded by this command id, so a
// retried request neither calls the model again nor records anything twice.
func (x *executor) prior(ctx context.Context, recs []domain.Recorded, commandID, stream string, r AskResult) (AskResult, error) {
	var outcome, reason string
	for _, rec := range recs {
		if !isCommandEvent(rec.EventID, commandID, stream) {
			continue
		}
		ev, err := x.decode(ctx, rec)
		if err != nil {
			return AskResult{}, err
		}
		r.Position = rec.Position
		switch e := ev.(type) {
		case domain.ModelInvocationRecorded:
			outcome, reason = e.Outcome, e.Error
			r.Model, r.Region, r.Excerpts = e.Model, e.Region, e.Excerpts
		case domain.MessageSent:
			r.SentAt = e.SentAt
		case domain.AssistantReplyRecorded:
			r.Reply, r.RepliedAt = e.Text.Plain, e.RecordedAt
		}
	}
	switch outcome {
	case domain.OutcomeRefused:
		return r, domain.E(domain.KindForbidden, "Ask", reason)
	case domain.OutcomeError, domain.OutcomeTimeout:
		return r, domain.E(domain.KindUnavailable, "Ask", "the assistant's model did not answer; please try again")
	}
	return r, nil
}

func isCommandEvent(eventID, commandID, stream string) bool {
	for i := 0; i < 3; i++ {
		if eventID == EventID(commandID, stream, i) {
			return true
		}
	}
	return false
}

// buildRequest frames the selected excerpts and the question as chat messages.
func buildRequest(m domain.AllowedModel, instructions, question string, excerpts []domain.Candidate) ModelRequest {
	req := ModelRequest{Model: m.ID, Endpoint: m.Endpoint, Question: question}
	system := systemPrompt
	if s := strings.TrimSpace(instructions); s != "" {
		system += "\n\n" + s
	}
	var b strings.Builder
	if len(excerpts) == 0 {
		b.WriteString("No document excerpts matched the question.\n\n")
	} else {
		b.WriteString("Document excerpts:\n\n")
	}
	for i, e := range excerpts {
		fmt.Fprintf(&b, "[%d] (document %s)\n", i+1, e.DocumentID)
		b.WriteString(e.Text)
		b.WriteString("\n\n")
		req.Excerpts = append(req.Excerpts, ModelExcerpt{Number: i + 1, DocumentID: e.DocumentID, Text: e.Text})
	}
	b.WriteString("Question: ")
	b.WriteString(question)
	req.Messages = []ChatMessage{{Role: "system", Content: system}, {Role: "user", Content: b.String()}}
	return req
}

// failurePhrase is the fixed phrase recorded for a failed call: the domain message of the
// provider's error (which holds no personal data), bounded.
func failurePhrase(err error) string {
	var de *domain.Error
	msg := "the model call failed"
	if errors.As(err, &de) && de.Msg != "" {
		msg = de.Msg
	}
	return truncateBytes(msg, 300)
}

func refusalPhrase(err error) string { return failurePhrase(err) }

// truncateBytes cuts s to at most n bytes at a rune boundary.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// catalogSettings returns s with the allow-list entry of id as the operator's model
// catalogue has it now (its region is the catalogue's), or the refusal when the catalogue
// no longer lists it at the endpoint s names.
func (x *executor) catalogSettings(s domain.OrganizationSettings, id domain.ModelID) (domain.OrganizationSettings, error) {
	m, ok := s.Model(id)
	if !ok {
		return s, nil // CheckModelUse refuses it
	}
	m, err := x.catalog().AtCallTime(m)
	if err != nil {
		return s, err
	}
	models := append([]domain.AllowedModel(nil), s.Models...)
	for i := range models {
		if models[i].ID == id {
			models[i] = m
		}
	}
	s.Models = models
	return s, nil
}

// catalog is the operator's model catalogue (empty without a model router).
func (x *executor) catalog() domain.ModelCatalog {
	if x.d.Models == nil {
		return domain.ModelCatalog{}
	}
	return x.d.Models.Catalog()
}

// classifyModels draws s's allow-list from the operator's catalogue. An App without a
// model router (the operator's own CLI, process-manager workers) calls no model and leaves
// s as given; the GraphQL API always has one (app.Open), so an Admin's allow-list always
// goes through the catalogue.
func (x *executor) classifyModels(s domain.OrganizationSettings) (domain.OrganizationSettings, error) {
	if x.d.Models == nil {
		return s, nil
	}
	return x.d.Models.Catalog().ClassifySettings(s)
}
