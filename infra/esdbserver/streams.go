package esdbserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const readPage = 2000

// streamsService implements the Streams gRPC service.
type streamsService struct {
	streams.UnimplementedStreamsServer
	s *Server
}

// Append reads the whole request stream (options, then one message per event), then queues
// the write to the group-commit writer and answers after the commit.
func (h *streamsService) Append(ss streams.Streams_AppendServer) error {
	ctx := ss.Context()
	first, err := ss.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	var events []proposed
	size := 0
	var bad error
	for {
		m, err := ss.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		pm := m.GetProposedMessage()
		if pm == nil {
			bad = errors.New("append: expected a proposed message")
			continue
		}
		ev, err := toProposed(pm)
		if err != nil {
			bad = err
			continue
		}
		size += len(ev.data) + len(ev.meta) + 64
		events = append(events, ev)
	}
	if opts == nil {
		return status.Error(codes.InvalidArgument, "append: the first message must carry the options")
	}
	if bad != nil {
		return status.Error(codes.InvalidArgument, bad.Error())
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "append: empty stream name")
	}
	if !storableText(name) {
		return status.Error(codes.InvalidArgument, "append: stream name is not UTF-8 text")
	}
	exp, err := appendExpectation(opts)
	if err != nil {
		return err
	}
	if err := h.s.authorize(ctx, name, opWrite); err != nil {
		return err
	}
	res := h.s.w.submit(ctx, &writeReq{kind: kindAppend, stream: name, expect: exp, events: events, size: size})
	var wv *wrongVersionError
	if errors.As(res.err, &wv) {
		return ss.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongVersionBody(wv)}})
	}
	if res.err != nil {
		return h.s.writeError(ctx, ss, res.err)
	}
	success := &streams.AppendResp_Success{}
	if res.revision < 0 {
		success.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		success.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.revision)}
	}
	if res.pos > 0 {
		success.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: uint64(res.pos), PreparePosition: uint64(res.pos)}}
	} else {
		success.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	}
	return ss.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: success}})
}

func appendExpectation(o *streams.AppendReq_Options) (expectation, error) {
	switch e := o.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		if e.Revision > math.MaxInt64-1 {
			return expectation{}, status.Error(codes.InvalidArgument, "expected revision out of range")
		}
		return expectation{kind: expectRevision, rev: int64(e.Revision)}, nil
	case *streams.AppendReq_Options_NoStream:
		return expectation{kind: expectNoStream}, nil
	case *streams.AppendReq_Options_StreamExists:
		return expectation{kind: expectExists}, nil
	default:
		return expectation{kind: expectAny}, nil
	}
}

// deleteExpectation reads the expected revision of a delete or tombstone request; both
// messages share the same options shape.
func deleteExpectation(rev any) (expectation, error) {
	switch e := rev.(type) {
	case *streams.DeleteReq_Options_Revision:
		return expectation{kind: expectRevision, rev: int64(min(e.Revision, math.MaxInt64-1))}, nil
	case *streams.TombstoneReq_Options_Revision:
		return expectation{kind: expectRevision, rev: int64(min(e.Revision, math.MaxInt64-1))}, nil
	case *streams.DeleteReq_Options_NoStream, *streams.TombstoneReq_Options_NoStream:
		return expectation{kind: expectNoStream}, nil
	case *streams.DeleteReq_Options_StreamExists, *streams.TombstoneReq_Options_StreamExists:
		return expectation{kind: expectExists}, nil
	default:
		return expectation{kind: expectAny}, nil
	}
}

func toProposed(pm *streams.AppendReq_ProposedMessage) (proposed, error) {
	id, err := uuidFromProto(pm.GetId())
	if err != nil {
		return proposed{}, err
	}
	md := pm.GetMetadata()
	typ := md["type"]
	if typ == "" {
		return proposed{}, errors.New("append: event without a type")
	}
	ctype := md["content-type"]
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	if !storableText(typ) || !storableText(ctype) {
		return proposed{}, errors.New("append: event type or content type is not UTF-8 text")
	}
	return proposed{id: id, typ: typ, ctype: ctype, data: pm.GetData(), meta: pm.GetCustomMetadata()}, nil
}

// storableText reports whether s can be stored as Postgres text: valid UTF-8 without NUL.
// Anything else would fail the whole commit group it is written in.
func storableText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func uuidFromProto(u *shared.UUID) ([16]byte, error) {
	if u == nil {
		return uuid.New(), nil
	}
	if st := u.GetStructured(); st != nil {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], uint64(st.MostSignificantBits))
		binary.BigEndian.PutUint64(b[8:], uint64(st.LeastSignificantBits))
		return b, nil
	}
	id, err := uuid.Parse(u.GetString_())
	if err != nil {
		return [16]byte{}, fmt.Errorf("append: bad event id: %w", err)
	}
	return id, nil
}

func uuidHalves(id [16]byte) (int64, int64) {
	return int64(binary.BigEndian.Uint64(id[:8])), int64(binary.BigEndian.Uint64(id[8:]))
}

func wrongVersionBody(wv *wrongVersionError) *streams.AppendResp_WrongExpectedVersion {
	b := &streams.AppendResp_WrongExpectedVersion{}
	if wv.current < 0 {
		b.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		b.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		b.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(wv.current)}
		b.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(wv.current)}
	}
	switch wv.expected.kind {
	case expectRevision:
		b.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: uint64(wv.expected.rev)}
		b.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: uint64(wv.expected.rev)}
	case expectNoStream:
		b.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case expectExists:
		b.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		b.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		b.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		b.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	return b
}

// trailerSetter is the part of a server stream (or the unary call context) that sets
// trailers.
type trailerSetter interface{ SetTrailer(metadata.MD) }

type unaryTrailers struct{ ctx context.Context }

func (u unaryTrailers) SetTrailer(md metadata.MD) { _ = grpc.SetTrailer(u.ctx, md) }

// writeError maps a writer error to the status and trailers the client parses.
func (s *Server) writeError(ctx context.Context, ts trailerSetter, err error) error {
	var sd *streamDeletedError
	var wv *wrongVersionError
	switch {
	case errors.As(err, &sd):
		return streamDeletedStatus(ts, sd.stream)
	case errors.As(err, &wv):
		ts.SetTrailer(metadata.Pairs("exception", "wrong-expected-version", "stream-name", wv.stream,
			"expected-version", wv.expected.String(), "actual-version", strconv.FormatInt(wv.current, 10)))
		return status.Error(codes.FailedPrecondition, wv.Error())
	case errors.Is(err, errClosed):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case storageUnavailable(err):
		// Nothing was committed: the client may retry once the storage is back.
		s.log.Error("event store: write failed, storage unavailable", "err", err)
		return status.Error(codes.Unavailable, "event store storage unavailable")
	default:
		s.log.Error("event store: write failed", "err", err)
		return status.Error(codes.Internal, "event store write failed")
	}
}

// storageUnavailable reports a failure of the storage rather than of the request: Postgres
// out of disk, memory or connections (SQLSTATE class 53), shutting down or restarting
// (57P01-57P03), a broken connection (class 08) or one that could not be made.
func storageUnavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "08") ||
			pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

func streamDeletedStatus(ts trailerSetter, stream string) error {
	ts.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", stream))
	return status.Errorf(codes.FailedPrecondition, "stream %q is deleted", stream)
}

func accessDenied(ts trailerSetter) error {
	ts.SetTrailer(metadata.Pairs("exception", "access-denied"))
	return status.Error(codes.PermissionDenied, "access denied")
}

// authorize checks op on stream for the caller; a $$ stream's reads and writes are the
// metadata operations of its stream.
func (s *Server) authorize(ctx context.Context, stream string, op operation) error {
	p := principalFrom(ctx)
	if p.admin {
		return nil
	}
	target := stream
	if isMetaStream(stream) {
		target = stream[2:]
		switch op {
		case opRead:
			op = opMetaRead
		case opWrite:
			op = opMetaWrite
		}
	}
	info, err := s.st.info(ctx, target)
	if err != nil {
		return status.Error(codes.Unavailable, "event store: read metadata")
	}
	if !p.allowed(target, info.meta, op) {
		return accessDenied(unaryTrailers{ctx})
	}
	return nil
}

// Delete soft-deletes a stream.
func (h *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	o := req.GetOptions()
	name := string(o.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "delete: empty stream name")
	}
	exp, _ := deleteExpectation(o.GetExpectedStreamRevision())
	if err := h.s.authorize(ctx, name, opDelete); err != nil {
		return nil, err
	}
	res := h.s.w.submit(ctx, &writeReq{kind: kindDelete, stream: name, expect: exp})
	if res.err != nil {
		return nil, h.s.writeError(ctx, unaryTrailers{ctx}, res.err)
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{Position: &streams.DeleteResp_Position{
		CommitPosition: uint64(res.pos), PreparePosition: uint64(res.pos)}}}, nil
}

// Tombstone deletes a stream for good.
func (h *streamsService) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	o := req.GetOptions()
	name := string(o.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "tombstone: empty stream name")
	}
	exp, _ := deleteExpectation(o.GetExpectedStreamRevision())
	if err := h.s.authorize(ctx, name, opDelete); err != nil {
		return nil, err
	}
	res := h.s.w.submit(ctx, &writeReq{kind: kindTombstone, stream: name, expect: exp})
	if res.err != nil {
		return nil, h.s.writeError(ctx, unaryTrailers{ctx}, res.err)
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{Position: &streams.TombstoneResp_Position{
		CommitPosition: uint64(res.pos), PreparePosition: uint64(res.pos)}}}, nil
}
