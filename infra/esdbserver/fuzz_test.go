package esdbserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/arkiv/arkiv/infra/pgtest"
)

// Fuzz targets for the embedded server's request handling (issue 24, "bad input"): request
// messages decoded from arbitrary bytes, stream metadata, and appends of arbitrary stream
// names, types and payloads through gRPC to a real server. Bad input is refused with an
// InvalidArgument (or the protocol's own FailedPrecondition) status and appends nothing;
// nothing panics. Seeds: testdata/fuzz/<Name>/; `make fuzz` runs each for a bounded time.

// FuzzRequestDecode decodes arbitrary bytes as Append and Read requests with the server's
// codec and runs what the handlers derive from them: the expected revision, the proposed
// events and the read filter.
func FuzzRequestDecode(f *testing.F) {
	c := newCodec()
	rec := &record{stream: "space-1", typ: "space.created.v1"}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ar streams.AppendReq
		if c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bytes.Clone(b))}, &ar) == nil {
			if o := ar.GetOptions(); o != nil {
				exp, err := appendExpectation(o)
				if err != nil {
					if status.Code(err) != codes.InvalidArgument {
						t.Fatalf("appendExpectation: %v", err)
					}
				} else if exp.kind == expectRevision && exp.rev < 0 {
					t.Fatalf("expected revision %d", exp.rev)
				}
			}
			if pm := ar.GetProposedMessage(); pm != nil {
				p, err := toProposed(pm)
				if err == nil && (p.typ == "" || p.ctype == "") {
					t.Fatalf("proposed event without a type or content type: %+v", p)
				}
			}
		}
		var rr streams.ReadReq
		if c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(bytes.Clone(b))}, &rr) == nil {
			fl, err := newEventFilter(rr.GetOptions().GetFilter())
			if err != nil {
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("newEventFilter: %v", err)
				}
				return
			}
			if fl != nil && fl.interval <= 0 {
				t.Fatalf("filter checkpoint interval %d", fl.interval)
			}
			fl.match(rec)
		}
	})
}

// FuzzStreamMetadata parses arbitrary bytes as a stream's metadata ($maxCount, $maxAge, $tb,
// $acl) and applies it to a stream's visible range and to access decisions: limits are never
// negative, $maxAge never hides an event written now, and raising $tb keeps the metadata a
// JSON object whose $tb is at least the new value.
func FuzzStreamMetadata(f *testing.F) {
	now := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
	s := &Server{clock: fixedClock(now)}
	nowTicks := now.UnixNano() / 100
	f.Fuzz(func(t *testing.T, data []byte, last, tb int64) {
		last, tb = max(last, -1), max(tb, 0)
		m := parseMeta(data)
		for name, v := range map[string]*int64{"$maxCount": m.maxCount, "$maxAge": m.maxAge, "$tb": m.tb} {
			if v != nil && *v < 0 {
				t.Fatalf("%s parsed as %d from %s", name, *v, data)
			}
		}
		for _, stream := range []string{"space-1", "$$space-1", "$system"} {
			r := s.visibleRange(stream, streamInfo{exists: true, last: last, meta: m})
			if r.lo < 0 {
				t.Fatalf("%s: visible range starts at %d", stream, r.lo)
			}
			if r.minCreated > nowTicks {
				t.Fatalf("%s: $maxAge %d hides events written now (min created %d, now %d)", stream, *m.maxAge, r.minCreated, nowTicks)
			}
			for _, p := range []principal{{name: "ops"}, {anonymous: true}} {
				for op := opRead; op <= opMetaWrite; op++ {
					if p.anonymous && stream[0] == '$' && m.acl == nil && p.allowed(stream, m, op) {
						t.Fatalf("an anonymous caller may %d %s without an ACL", op, stream)
					}
				}
			}
		}

		out := withTruncateBefore(data, tb)
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return
		}
		if json.Unmarshal(out, &obj) != nil {
			t.Fatalf("raising $tb broke the metadata: %s", out)
		}
		if got := parseMeta(out).tb; got == nil || *got < tb {
			t.Fatalf("raising $tb to %d left %v in %s", tb, got, out)
		}
	})
}

// FuzzAppend appends one event with an arbitrary stream name, type, content type, payload
// and expected revision to a real embedded server over gRPC. An append either succeeds and
// adds exactly that event at the head of the log, or is refused with a status that names
// the caller's mistake (never Internal, Unknown or Unavailable) and adds nothing.
func FuzzAppend(f *testing.F) {
	ctx := context.Background()
	srv := startFuzzServer(f)
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = conn.Close() })
	client := streams.NewStreamsClient(conn)
	f.Fuzz(func(t *testing.T, stream []byte, typ, ctype string, data, meta []byte, expect uint8, rev uint64) {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		before, err := srv.st.head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		opts := &streams.AppendReq_Options{StreamIdentifier: &shared.StreamIdentifier{StreamName: stream}}
		switch expect % 4 {
		case 0:
			opts.ExpectedStreamRevision = &streams.AppendReq_Options_Any{Any: &shared.Empty{}}
		case 1:
			opts.ExpectedStreamRevision = &streams.AppendReq_Options_NoStream{NoStream: &shared.Empty{}}
		case 2:
			opts.ExpectedStreamRevision = &streams.AppendReq_Options_StreamExists{StreamExists: &shared.Empty{}}
		default:
			opts.ExpectedStreamRevision = &streams.AppendReq_Options_Revision{Revision: rev}
		}
		// Proto3 strings are UTF-8: the client refuses to send anything else (the stream
		// name is bytes and goes as it is).
		typ, ctype = strings.ToValidUTF8(typ, "\uFFFD"), strings.ToValidUTF8(ctype, "\uFFFD")
		md := map[string]string{}
		if typ != "" {
			md["type"] = typ
		}
		if ctype != "" {
			md["content-type"] = ctype
		}
		id := uuid.New()
		msg := &streams.AppendReq_ProposedMessage{
			Id:       &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}},
			Metadata: md, CustomMetadata: meta, Data: data,
		}
		as, err := client.Append(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = as.Send(&streams.AppendReq{Content: &streams.AppendReq_Options_{Options: opts}})
		if err == nil {
			err = as.Send(&streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: msg}})
		}
		var resp *streams.AppendResp
		if err == nil || errors.Is(err, io.EOF) {
			resp, err = as.CloseAndRecv()
		}
		after, herr := srv.st.head(ctx)
		if herr != nil {
			t.Fatal(herr)
		}
		if err != nil {
			switch status.Code(err) {
			case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied, codes.NotFound:
			default:
				t.Fatalf("append of stream %q type %q: %v", stream, typ, err)
			}
		}
		if err != nil || resp.GetWrongExpectedVersion() != nil {
			if after != before {
				t.Fatalf("a refused append moved the log's head from %d to %d", before, after)
			}
			return
		}
		if resp.GetSuccess() == nil || after != before+1 {
			t.Fatalf("append answered %v and moved the head from %d to %d", resp, before, after)
		}
		recs, err := srv.st.readAll(ctx, after, after, false, 1)
		if err != nil || len(recs) != 1 {
			t.Fatalf("read back the appended event: %v (%d)", err, len(recs))
		}
		r := recs[0]
		if r.stream != string(stream) || r.typ != typ || r.id != id || !bytes.Equal(r.data, data) || !bytes.Equal(r.meta, meta) {
			t.Fatalf("stored %q/%q, appended %q/%q", r.stream, r.typ, stream, typ)
		}
	})
}

// startFuzzServer starts an embedded server on a database of its own.
func startFuzzServer(tb testing.TB) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := Start(ctx, Config{PGURL: pgtest.NewDatabase(tb), Listen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatalf("start server: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

// fixedClock is a domain.Clock that always tells t.
type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
