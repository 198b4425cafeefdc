package esdbserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/persistent"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// allStream is the stream name of persistent subscriptions to $all.
const allStream = "$all"

// Consumer strategies, named as the client and EventStoreDB name them.
const (
	strategyRoundRobin       = "RoundRobin"
	strategyDispatchToSingle = "DispatchToSingle"
	strategyPinned           = "Pinned"
)

// groupKey names one persistent subscription group.
type groupKey struct{ stream, group string }

// parkedStream is the stream a group's parked messages are linked into, as in EventStoreDB.
func (k groupKey) parkedStream() string {
	return "$persistentsubscription-" + k.stream + "::" + k.group + "-parked"
}

// psubSettings are a group's settings and start point, stored as JSON.
type psubSettings struct {
	ResolveLinks       bool        `json:"resolveLinks"`
	ExtraStatistics    bool        `json:"extraStatistics"`
	MessageTimeoutMs   int32       `json:"messageTimeoutMs"`
	MaxRetryCount      int32       `json:"maxRetryCount"`
	LiveBufferSize     int32       `json:"liveBufferSize"`
	ReadBatchSize      int32       `json:"readBatchSize"`
	HistoryBufferSize  int32       `json:"historyBufferSize"`
	CheckpointAfterMs  int32       `json:"checkpointAfterMs"`
	MinCheckpointCount int32       `json:"minCheckpointCount"`
	MaxCheckpointCount int32       `json:"maxCheckpointCount"`
	MaxSubscriberCount int32       `json:"maxSubscriberCount"`
	Strategy           string      `json:"strategy"`
	StartKind          string      `json:"startKind"` // "start", "end" or "at"
	StartAt            int64       `json:"startAt"`   // revision, or commit position for $all
	Filter             *psubFilter `json:"filter,omitempty"`
}

// psubFilter is the $all filter of a group.
type psubFilter struct {
	OnType   bool     `json:"onType"`
	Regex    string   `json:"regex,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
	Window   uint32   `json:"window,omitempty"`
	Interval uint32   `json:"interval,omitempty"`
}

func (f *psubFilter) compile() (*eventFilter, error) {
	if f == nil {
		return nil, nil
	}
	ef := &eventFilter{onType: f.OnType, prefixes: f.Prefixes, interval: 1}
	if f.Regex != "" {
		re, err := regexp.Compile(f.Regex)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "persistent subscription: bad filter regex: %v", err)
		}
		ef.re = re
	}
	return ef, nil
}

// settingsWire is the part of the Create and Update settings both messages share.
type settingsWire interface {
	GetResolveLinks() bool
	GetExtraStatistics() bool
	GetMaxRetryCount() int32
	GetMinCheckpointCount() int32
	GetMaxCheckpointCount() int32
	GetMaxSubscriberCount() int32
	GetLiveBufferSize() int32
	GetReadBatchSize() int32
	GetHistoryBufferSize() int32
	GetMessageTimeoutTicks() int64
	GetMessageTimeoutMs() int32
	GetCheckpointAfterTicks() int64
	GetCheckpointAfterMs() int32
}

// parseSettings validates wire settings; strategy is the consumer strategy's name.
func parseSettings(w settingsWire, strategy string) (psubSettings, error) {
	st := psubSettings{
		ResolveLinks:       w.GetResolveLinks(),
		ExtraStatistics:    w.GetExtraStatistics(),
		MaxRetryCount:      w.GetMaxRetryCount(),
		MinCheckpointCount: w.GetMinCheckpointCount(),
		MaxCheckpointCount: w.GetMaxCheckpointCount(),
		MaxSubscriberCount: w.GetMaxSubscriberCount(),
		LiveBufferSize:     w.GetLiveBufferSize(),
		ReadBatchSize:      w.GetReadBatchSize(),
		HistoryBufferSize:  w.GetHistoryBufferSize(),
		MessageTimeoutMs:   w.GetMessageTimeoutMs(),
		CheckpointAfterMs:  w.GetCheckpointAfterMs(),
		Strategy:           strategy,
	}
	if t := w.GetMessageTimeoutTicks(); t != 0 {
		st.MessageTimeoutMs = int32(min(t/10_000, math.MaxInt32))
	}
	if t := w.GetCheckpointAfterTicks(); t != 0 {
		st.CheckpointAfterMs = int32(min(t/10_000, math.MaxInt32))
	}
	for name, v := range map[string]int32{
		"max retry count": st.MaxRetryCount, "min checkpoint count": st.MinCheckpointCount,
		"max checkpoint count": st.MaxCheckpointCount, "max subscriber count": st.MaxSubscriberCount,
		"live buffer size": st.LiveBufferSize, "read batch size": st.ReadBatchSize,
		"history buffer size": st.HistoryBufferSize, "message timeout": st.MessageTimeoutMs,
		"checkpoint after": st.CheckpointAfterMs,
	} {
		if v < 0 {
			return st, status.Errorf(codes.InvalidArgument, "persistent subscription: %s must not be negative", name)
		}
	}
	if st.MaxCheckpointCount > 0 && st.MinCheckpointCount > st.MaxCheckpointCount {
		return st, status.Error(codes.InvalidArgument, "persistent subscription: min checkpoint count exceeds max checkpoint count")
	}
	switch st.Strategy {
	case strategyRoundRobin, strategyDispatchToSingle, strategyPinned:
	default:
		return st, status.Errorf(codes.InvalidArgument, "persistent subscription: unknown consumer strategy %q", st.Strategy)
	}
	return st, nil
}

// Effective sizes: zero in a setting means the client's default.
func (st *psubSettings) readBatch() int     { return int(orDefault(st.ReadBatchSize, 20)) }
func (st *psubSettings) liveBuffer() int    { return int(orDefault(st.LiveBufferSize, 500)) }
func (st *psubSettings) historyBuffer() int { return int(orDefault(st.HistoryBufferSize, 500)) }

func orDefault(v, d int32) int32 {
	if v <= 0 {
		return d
	}
	return v
}

// startFrom renders the start point as GetInfo reports it.
func (st *psubSettings) startFrom(all bool) string {
	switch st.StartKind {
	case "end":
		if all {
			return "C:-1/P:-1"
		}
		return "-1"
	case "at":
		if all {
			return fmt.Sprintf("C:%d/P:%d", st.StartAt, st.StartAt)
		}
		return strconv.FormatInt(st.StartAt, 10)
	default:
		if all {
			return "C:0/P:0"
		}
		return "0"
	}
}

// psubs holds the server's persistent subscription groups; each runs its own loop.
type psubs struct {
	s      *Server
	mu     sync.Mutex
	groups map[groupKey]*group
	closed bool
}

func newPsubs(s *Server) *psubs { return &psubs{s: s, groups: map[groupKey]*group{}} }

// load starts every stored group.
func (m *psubs) load(ctx context.Context) error {
	rows, err := m.s.pool.Query(ctx, `SELECT stream, group_name, settings, origin, checkpoint FROM `+m.s.st.schema+`.persistent_subscriptions`)
	if err != nil {
		return fmt.Errorf("load persistent subscriptions: %w", err)
	}
	type row struct {
		key    groupKey
		raw    []byte
		origin int64
		cp     *int64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.key.stream, &r.key.group, &r.raw, &r.origin, &r.cp); err != nil {
			rows.Close()
			return fmt.Errorf("load persistent subscriptions: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load persistent subscriptions: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range all {
		var st psubSettings
		if err := json.Unmarshal(r.raw, &st); err != nil {
			return fmt.Errorf("persistent subscription %s::%s: bad settings: %w", r.key.stream, r.key.group, err)
		}
		if m.groups[r.key] != nil {
			continue // created while the subsystem restarted
		}
		g, err := newGroup(m, r.key, st, r.origin, r.cp)
		if err != nil {
			return err
		}
		m.groups[r.key] = g
	}
	return nil
}

// get returns a running group, or a NotFound status.
func (m *psubs) get(k groupKey) (*group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.groups[k]
	if g == nil {
		return nil, notFound(k)
	}
	return g, nil
}

func notFound(k groupKey) error {
	return status.Errorf(codes.NotFound, "persistent subscription %s::%s does not exist", k.stream, k.group)
}

// stopAll stops every group (each writes its final checkpoint) and refuses new ones.
func (m *psubs) stopAll() {
	m.mu.Lock()
	m.closed = true
	groups := m.groups
	m.groups = map[groupKey]*group{}
	m.mu.Unlock()
	for _, g := range groups {
		g.stop(status.Error(codes.Unavailable, "event store is shutting down"))
	}
}

// restart stops every group and starts them again from their checkpoints.
func (m *psubs) restart(ctx context.Context) error {
	m.mu.Lock()
	groups := m.groups
	m.groups = map[groupKey]*group{}
	m.mu.Unlock()
	for _, g := range groups {
		g.stop(status.Error(codes.Unavailable, "persistent subscription subsystem restarting"))
	}
	return m.load(ctx)
}

// psubService implements the PersistentSubscriptions gRPC service.
type psubService struct {
	persistent.UnimplementedPersistentSubscriptionsServer
	s *Server
}

// requireUser refuses anonymous callers in secure mode, as EventStoreDB does for
// persistent subscription operations.
func requireUser(ctx context.Context) error {
	if p := principalFrom(ctx); p.anonymous && !p.admin {
		return accessDenied(unaryTrailers{ctx})
	}
	return nil
}

// Create creates a group.
func (h *psubService) Create(ctx context.Context, req *persistent.CreateReq) (*persistent.CreateResp, error) {
	if err := requireUser(ctx); err != nil {
		return nil, err
	}
	o := req.GetOptions()
	if o.GetGroupName() == "" {
		return nil, status.Error(codes.InvalidArgument, "persistent subscription: empty group name")
	}
	strategy := o.GetSettings().GetConsumerStrategy()
	if strategy == "" {
		strategy = o.GetSettings().GetNamedConsumerStrategy().String()
	}
	st, err := parseSettings(o.GetSettings(), strategy)
	if err != nil {
		return nil, err
	}
	key := groupKey{group: o.GetGroupName()}
	switch so := o.GetStreamOption().(type) {
	case *persistent.CreateReq_Options_All:
		key.stream = allStream
		switch p := so.All.GetAllOption().(type) {
		case *persistent.CreateReq_AllOptions_Position:
			st.StartKind, st.StartAt = "at", clampRev(p.Position.GetCommitPosition())
		case *persistent.CreateReq_AllOptions_End:
			st.StartKind = "end"
		default:
			st.StartKind = "start"
		}
		if fo := so.All.GetFilter(); fo != nil {
			f := &psubFilter{Interval: fo.GetCheckpointIntervalMultiplier(), Window: fo.GetMax()}
			expr := fo.GetStreamIdentifier()
			if fo.GetEventType() != nil {
				f.OnType, expr = true, fo.GetEventType()
			}
			f.Regex, f.Prefixes = expr.GetRegex(), expr.GetPrefix()
			st.Filter = f
		}
	case *persistent.CreateReq_Options_Stream:
		key.stream = string(so.Stream.GetStreamIdentifier().GetStreamName())
		switch r := so.Stream.GetRevisionOption().(type) {
		case *persistent.CreateReq_StreamOptions_Revision:
			st.StartKind, st.StartAt = "at", clampRev(r.Revision)
		case *persistent.CreateReq_StreamOptions_End:
			st.StartKind = "end"
		default:
			st.StartKind = "start"
		}
	default: // servers before 21.10: the deprecated stream identifier and revision
		key.stream = string(o.GetStreamIdentifier().GetStreamName())
		switch rev := o.GetSettings().GetRevision(); rev {
		case math.MaxUint64:
			st.StartKind = "end"
		case 0:
			st.StartKind = "start"
		default:
			st.StartKind, st.StartAt = "at", clampRev(rev)
		}
	}
	if key.stream == "" {
		return nil, status.Error(codes.InvalidArgument, "persistent subscription: empty stream name")
	}
	if _, err := st.Filter.compile(); err != nil {
		return nil, err
	}
	if key.stream != allStream {
		if err := h.s.authorize(ctx, key.stream, opRead); err != nil {
			return nil, err
		}
	} else if !principalFrom(ctx).admin {
		return nil, accessDenied(unaryTrailers{ctx})
	}
	if err := h.s.psubs.create(ctx, key, st); err != nil {
		return nil, err
	}
	return &persistent.CreateResp{}, nil
}

// origin resolves a start point to the exclusive cursor a new group starts after.
func (m *psubs) origin(ctx context.Context, key groupKey, st psubSettings) (int64, error) {
	all := key.stream == allStream
	switch st.StartKind {
	case "at":
		if all {
			return max(st.StartAt-1, 0), nil
		}
		return st.StartAt - 1, nil
	case "end":
		if all {
			return m.s.hub.head.Load(), nil
		}
		info, err := m.s.st.info(ctx, key.stream)
		if err != nil {
			return 0, status.Error(codes.Unavailable, "event store: read stream")
		}
		return info.last, nil
	default:
		if all {
			return 0, nil
		}
		return -1, nil
	}
}

func (m *psubs) create(ctx context.Context, key groupKey, st psubSettings) error {
	origin, err := m.origin(ctx, key, st)
	if err != nil {
		return err
	}
	raw, _ := json.Marshal(st)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return status.Error(codes.Unavailable, "event store is shutting down")
	}
	if m.groups[key] != nil {
		return status.Errorf(codes.AlreadyExists, "persistent subscription %s::%s already exists", key.stream, key.group)
	}
	_, err = m.s.pool.Exec(ctx, `INSERT INTO `+m.s.st.schema+`.persistent_subscriptions (stream, group_name, settings, origin)
		VALUES ($1, $2, $3, $4)`, key.stream, key.group, raw, origin)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return status.Errorf(codes.AlreadyExists, "persistent subscription %s::%s already exists", key.stream, key.group)
	}
	if err != nil {
		return status.Error(codes.Unavailable, "event store: store persistent subscription")
	}
	g, err := newGroup(m, key, st, origin, nil)
	if err != nil {
		return err
	}
	m.groups[key] = g
	return nil
}

// Update changes a group's settings and start point; its checkpoint stays, and its
// consumers are dropped so that they reconnect under the new settings.
func (h *psubService) Update(ctx context.Context, req *persistent.UpdateReq) (*persistent.UpdateResp, error) {
	if err := requireUser(ctx); err != nil {
		return nil, err
	}
	o := req.GetOptions()
	st, err := parseSettings(o.GetSettings(), o.GetSettings().GetNamedConsumerStrategy().String())
	if err != nil {
		return nil, err
	}
	key := groupKey{group: o.GetGroupName()}
	switch so := o.GetStreamOption().(type) {
	case *persistent.UpdateReq_Options_All:
		key.stream = allStream
		switch p := so.All.GetAllOption().(type) {
		case *persistent.UpdateReq_AllOptions_Position:
			st.StartKind, st.StartAt = "at", clampRev(p.Position.GetCommitPosition())
		case *persistent.UpdateReq_AllOptions_End:
			st.StartKind = "end"
		default:
			st.StartKind = "start"
		}
	case *persistent.UpdateReq_Options_Stream:
		key.stream = string(so.Stream.GetStreamIdentifier().GetStreamName())
		switch r := so.Stream.GetRevisionOption().(type) {
		case *persistent.UpdateReq_StreamOptions_Revision:
			st.StartKind, st.StartAt = "at", clampRev(r.Revision)
		case *persistent.UpdateReq_StreamOptions_End:
			st.StartKind = "end"
		default:
			st.StartKind = "start"
		}
	default:
		key.stream = string(o.GetStreamIdentifier().GetStreamName())
		st.StartKind = "start"
	}
	m := h.s.psubs
	g, err := m.get(key)
	if err != nil {
		return nil, err
	}
	st.Filter = g.set.Filter // the update message carries no filter: it stays
	origin, err := m.origin(ctx, key, st)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(st)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups[key] != g {
		return nil, notFound(key)
	}
	g.stop(status.Error(codes.Aborted, "persistent subscription updated"))
	var cp *int64
	err = m.s.pool.QueryRow(ctx, `UPDATE `+m.s.st.schema+`.persistent_subscriptions SET settings = $3, origin = $4
		WHERE stream = $1 AND group_name = $2 RETURNING checkpoint`, key.stream, key.group, raw, origin).Scan(&cp)
	if err != nil {
		delete(m.groups, key)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound(key)
		}
		return nil, status.Error(codes.Unavailable, "event store: update persistent subscription")
	}
	ng, err := newGroup(m, key, st, origin, cp)
	if err != nil {
		delete(m.groups, key)
		return nil, err
	}
	m.groups[key] = ng
	return &persistent.UpdateResp{}, nil
}

// Delete removes a group, its checkpoint and its parked messages.
func (h *psubService) Delete(ctx context.Context, req *persistent.DeleteReq) (*persistent.DeleteResp, error) {
	if err := requireUser(ctx); err != nil {
		return nil, err
	}
	o := req.GetOptions()
	key := groupKey{stream: allStream, group: o.GetGroupName()}
	if o.GetAll() == nil {
		key.stream = string(o.GetStreamIdentifier().GetStreamName())
	}
	m := h.s.psubs
	m.mu.Lock()
	g := m.groups[key]
	delete(m.groups, key)
	m.mu.Unlock()
	if g == nil {
		return nil, notFound(key)
	}
	g.stop(status.Errorf(codes.NotFound, "persistent subscription %s::%s was deleted", key.stream, key.group))
	if _, err := m.s.pool.Exec(ctx, `DELETE FROM `+m.s.st.schema+`.persistent_subscriptions WHERE stream = $1 AND group_name = $2`,
		key.stream, key.group); err != nil {
		return nil, status.Error(codes.Unavailable, "event store: delete persistent subscription")
	}
	if info, err := m.s.st.info(ctx, key.parkedStream()); err == nil && info.exists && !info.deleted {
		res := m.s.w.submit(ctx, &writeReq{kind: kindDelete, stream: key.parkedStream(), expect: expectation{kind: expectAny}})
		if res.err != nil {
			m.s.log.Warn("event store: delete parked messages", "err", res.err)
		}
	}
	return &persistent.DeleteResp{}, nil
}

// GetInfo describes one group.
func (h *psubService) GetInfo(ctx context.Context, req *persistent.GetInfoReq) (*persistent.GetInfoResp, error) {
	if err := requireUser(ctx); err != nil {
		return nil, err
	}
	o := req.GetOptions()
	key := groupKey{stream: allStream, group: o.GetGroupName()}
	if o.GetAll() == nil {
		key.stream = string(o.GetStreamIdentifier().GetStreamName())
	}
	g, err := h.s.psubs.get(key)
	if err != nil {
		return nil, err
	}
	info, err := g.info(ctx)
	if err != nil {
		return nil, err
	}
	return &persistent.GetInfoResp{SubscriptionInfo: info}, nil
}

// List describes every group, or those of one stream (or of $all).
func (h *psubService) List(ctx context.Context, req *persistent.ListReq) (*persistent.ListResp, error) {
	if err := requireUser(ctx); err != nil {
		return nil, err
	}
	o := req.GetOptions()
	filter, one := "", false
	if so := o.GetListForStream(); so != nil {
		one = true
		filter = allStream
		if so.GetAll() == nil {
			filter = string(so.GetStream().GetStreamName())
		}
	}
	m := h.s.psubs
	m.mu.Lock()
	var groups []*group
	for k, g := range m.groups {
		if !one || k.stream == filter {
			groups = append(groups, g)
		}
	}
	m.mu.Unlock()
	if one && len(groups) == 0 {
		return nil, status.Errorf(codes.NotFound, "no persistent subscriptions on %s", filter)
	}
	resp := &persistent.ListResp{}
	for _, g := range groups {
		info, err := g.info(ctx)
		if err != nil {
			if status.Code(err) == codes.NotFound {
				continue // deleted meanwhile
			}
			return nil, err
		}
		resp.Subscriptions = append(resp.Subscriptions, info)
	}
	sortInfos(resp.Subscriptions)
	return resp, nil
}

// ReplayParked hands a group's parked messages back to its consumers.
func (h *psubService) ReplayParked(ctx context.Context, req *persistent.ReplayParkedReq) (*persistent.ReplayParkedResp, error) {
	if err := requireUser(ctx); err != nil {
		return nil, err
	}
	o := req.GetOptions()
	key := groupKey{stream: allStream, group: o.GetGroupName()}
	if o.GetAll() == nil {
		key.stream = string(o.GetStreamIdentifier().GetStreamName())
	}
	g, err := h.s.psubs.get(key)
	if err != nil {
		return nil, err
	}
	limit := int64(math.MaxInt64)
	if n := o.GetStopAt(); n > 0 {
		limit = n
	}
	if err := g.replayParked(ctx, limit); err != nil {
		return nil, err
	}
	return &persistent.ReplayParkedResp{}, nil
}

// RestartSubsystem restarts every group from its checkpoint.
func (h *psubService) RestartSubsystem(ctx context.Context, _ *shared.Empty) (*shared.Empty, error) {
	if err := requireUser(ctx); err != nil {
		return nil, err
	}
	if err := h.s.psubs.restart(ctx); err != nil {
		h.s.log.Error("event store: restart persistent subscriptions", "err", err)
		return nil, status.Error(codes.Unavailable, "event store: restart persistent subscriptions")
	}
	return &shared.Empty{}, nil
}

// Read connects a consumer to a group: the first message names the group, then the
// consumer acks and nacks while the server sends events.
func (h *psubService) Read(ss persistent.PersistentSubscriptions_ReadServer) error {
	ctx := ss.Context()
	first, err := ss.Recv()
	if err != nil {
		return err
	}
	o := first.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "persistent subscription: the first message must carry the options")
	}
	if err := requireUser(ctx); err != nil {
		return err
	}
	key := groupKey{stream: allStream, group: o.GetGroupName()}
	if o.GetAll() == nil {
		key.stream = string(o.GetStreamIdentifier().GetStreamName())
		if err := h.s.authorize(ctx, key.stream, opRead); err != nil {
			return err
		}
	} else if !principalFrom(ctx).admin {
		return accessDenied(unaryTrailers{ctx})
	}
	g, err := h.s.psubs.get(key)
	if err != nil {
		return err
	}
	slots := int(o.GetBufferSize())
	if slots <= 0 {
		slots = 10
	}
	c := &consumer{
		id:    key.stream + "::" + key.group,
		from:  peerAddr(ctx),
		user:  principalFrom(ctx).name,
		name:  connectionName(ctx),
		slots: slots,
		out:   make(chan *persistent.ReadResp, slots),
		stop:  make(chan error, 1),
	}
	if err := g.join(c); err != nil {
		if status.Code(err) == codes.FailedPrecondition {
			ss.SetTrailer(metadata.Pairs("exception", "maximum-subscribers-reached"))
		}
		return err
	}
	defer g.leave(c)
	if err := ss.Send(&persistent.ReadResp{Content: &persistent.ReadResp_SubscriptionConfirmation_{
		SubscriptionConfirmation: &persistent.ReadResp_SubscriptionConfirmation{SubscriptionId: c.id}}}); err != nil {
		return err
	}
	recvDone := make(chan error, 1)
	go func() {
		for {
			m, err := ss.Recv()
			if err != nil {
				recvDone <- err
				return
			}
			switch {
			case m.GetAck() != nil:
				g.ack(c, idsOf(m.GetAck().GetIds()))
			case m.GetNack() != nil:
				n := m.GetNack()
				g.nack(c, idsOf(n.GetIds()), n.GetAction(), n.GetReason())
			}
		}
	}()
	for {
		select {
		case resp := <-c.out:
			if err := ss.Send(resp); err != nil {
				return err
			}
		case err := <-c.stop:
			return err
		case <-recvDone:
			return nil
		case <-g.done:
			return g.stoppedErr()
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

func idsOf(us []*shared.UUID) [][16]byte {
	out := make([][16]byte, 0, len(us))
	for _, u := range us {
		if id, err := uuidFromProto(u); err == nil && u != nil {
			out = append(out, id)
		}
	}
	return out
}
