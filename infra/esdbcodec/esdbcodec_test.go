package esdbcodec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// recorded returns a read response carrying one recorded event built from r's choices.
func recorded(r *rand.Rand) *streams.ReadResp {
	ev := &streams.ReadResp_ReadEvent_RecordedEvent{
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(fmt.Sprintf("space-%d-ü", r.IntN(1000)))},
		StreamRevision:   r.Uint64(),
		PreparePosition:  r.Uint64N(1 << 40),
		CommitPosition:   r.Uint64N(1 << 40),
		Metadata: map[string]string{
			"type":         fmt.Sprintf("space.member_added.v%d", r.IntN(3)),
			"created":      fmt.Sprint(r.Int64()),
			"content-type": []string{"application/json", "application/octet-stream", "text/plain; charset=utf-8"}[r.IntN(3)],
		},
	}
	if r.IntN(2) == 0 {
		ev.Id = &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits: r.Int64() - r.Int64(), LeastSignificantBits: r.Int64() - r.Int64()}}}
	} else {
		ev.Id = &shared.UUID{Value: &shared.UUID_String_{String_: "6f1c1f3e-2a4b-4c5d-8e9f-0a1b2c3d4e5f"}}
	}
	switch r.IntN(4) {
	case 0: // no payload at all
	case 1:
		ev.Data = []byte{}
	default:
		ev.Data = bytes.Repeat([]byte(`{"note":"x"}`), 1+r.IntN(200))
	}
	if r.IntN(2) == 0 {
		ev.CustomMetadata = []byte(`{"actor":"u1","hash":"abc"}`)
	}
	if r.IntN(5) == 0 {
		ev.Metadata["$extra"] = strings.Repeat("é", r.IntN(4))
	}
	re := &streams.ReadResp_ReadEvent{Event: ev}
	if r.IntN(3) == 0 {
		re.Position = &streams.ReadResp_ReadEvent_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		re.Position = &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: ev.CommitPosition}
	}
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: re}}
}

func standard(t testing.TB, b []byte) (*streams.ReadResp, error) {
	t.Helper()
	var m streams.ReadResp
	err := proto.Unmarshal(b, &m)
	return &m, err
}

func TestDecodeMatchesTheStandardDecoder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		want := recorded(r)
		b, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var got streams.ReadResp
		if !DecodeReadResp(bytes.Clone(b), &got) {
			t.Fatalf("message %d: declined a plain recorded event: %v", i, want)
		}
		std, err := standard(t, b)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&got, std) || !proto.Equal(&got, want) {
			t.Fatalf("message %d: decoded\n%v\nstandard decoder\n%v", i, &got, std)
		}
		// proto.Equal does not tell a nil payload from an empty one; the client sees both.
		if (got.GetEvent().GetEvent().Data == nil) != (std.GetEvent().GetEvent().Data == nil) {
			t.Fatalf("message %d: data nil %v, standard nil %v", i, got.GetEvent().GetEvent().Data == nil, std.GetEvent().GetEvent().Data == nil)
		}
	}
}

func TestDecodeDeclinesWhatItDoesNotReproduce(t *testing.T) {
	base := recorded(rand.New(rand.NewPCG(3, 4)))
	plain, _ := proto.Marshal(base)
	withLink := proto.Clone(base).(*streams.ReadResp)
	withLink.GetEvent().Link = proto.Clone(base.GetEvent().Event).(*streams.ReadResp_ReadEvent_RecordedEvent)
	linkBytes, _ := proto.Marshal(withLink)
	confirmation, _ := proto.Marshal(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: "s"}}})
	checkpoint, _ := proto.Marshal(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: 7}}})
	badUTF8 := proto.Clone(base).(*streams.ReadResp)
	badUTF8.GetEvent().Event.Metadata["type"] = "\x01\x02\x03"
	placeholder, _ := proto.Marshal(badUTF8) // the marshaller refuses invalid UTF-8: patch it in
	badUTF8Bytes := bytes.Replace(placeholder, []byte("\x01\x02\x03"), []byte("\xff\xfe\xfd"), 1)
	unknown := protowire.AppendVarint(protowire.AppendTag(bytes.Clone(plain), 99, protowire.VarintType), 1)
	twice := append(bytes.Clone(plain), plain...) // the event field repeated: the standard decoder merges

	cases := map[string][]byte{
		"link":          linkBytes,
		"confirmation":  confirmation,
		"checkpoint":    checkpoint,
		"invalid utf-8": badUTF8Bytes,
		"unknown field": unknown,
		"repeated":      twice,
		"truncated":     plain[:len(plain)-3],
		"empty":         {},
	}
	for name, b := range cases {
		m := &streams.ReadResp{Content: &streams.ReadResp_Confirmation{}}
		if DecodeReadResp(b, m) {
			t.Errorf("%s: decoded, want declined", name)
		}
		if _, ok := m.Content.(*streams.ReadResp_Confirmation); !ok {
			t.Errorf("%s: a declined decode changed the message", name)
		}
		// Through the codec, a declined message reads exactly as with the standard codec.
		var got streams.ReadResp
		errGot := Codec{std: stdCodec()}.Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, &got)
		std, errStd := standard(t, b)
		if (errGot == nil) != (errStd == nil) {
			t.Errorf("%s: codec error %v, standard error %v", name, errGot, errStd)
		}
		if errStd == nil && !proto.Equal(&got, std) {
			t.Errorf("%s: codec decoded\n%v\nstandard\n%v", name, &got, std)
		}
	}
}

// stdCodec is the codec gRPC registered before this package replaced it.
func stdCodec() encoding.CodecV2 { return encoding.GetCodecV2(grpcproto.Name).(Codec).std }

func TestCodecIsRegisteredForEveryGRPCConnection(t *testing.T) {
	if _, ok := encoding.GetCodecV2(grpcproto.Name).(Codec); !ok {
		t.Fatalf("gRPC's %q codec is %T, want esdbcodec.Codec", grpcproto.Name, encoding.GetCodecV2(grpcproto.Name))
	}
}

func TestDecodedMessageOutlivesGRPCBuffers(t *testing.T) {
	want := recorded(rand.New(rand.NewPCG(5, 6)))
	want.GetEvent().Event.Data = []byte(`{"canary":"payload"}`)
	b, _ := proto.Marshal(want)
	// Split across two buffers, and as one, as gRPC may hand it over either way.
	for _, split := range []int{0, len(b) / 2} {
		wire := bytes.Clone(b)
		data := mem.BufferSlice{mem.SliceBuffer(wire)}
		if split > 0 {
			data = mem.BufferSlice{mem.SliceBuffer(wire[:split]), mem.SliceBuffer(wire[split:])}
		}
		var got streams.ReadResp
		if err := encoding.GetCodecV2(grpcproto.Name).Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		for i := range wire {
			wire[i] = 0xAA // gRPC reuses its buffers once Unmarshal returns
		}
		if !proto.Equal(&got, want) {
			t.Fatalf("split %d: the decoded message changed with the buffer it came from:\n%v", split, &got)
		}
		data2 := got.GetEvent().Event.Data
		_ = append(data2, "more"...)
		if !proto.Equal(&got, want) {
			t.Fatalf("split %d: appending to Data overwrote the fields after it", split)
		}
	}
}

func TestOtherMessagesUseTheStandardCodec(t *testing.T) {
	req := &streams.ReadReq{Options: &streams.ReadReq_Options{ReadDirection: streams.ReadReq_Options_Backwards, ResolveLinks: true}}
	c := encoding.GetCodecV2(grpcproto.Name)
	data, err := c.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got streams.ReadReq
	if err := c.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, req) {
		t.Fatalf("round trip: got %v, want %v", &got, req)
	}
}

// FuzzDecodeReadResp checks that whatever DecodeReadResp accepts, the standard decoder
// accepts too and decodes to an equal message.
func FuzzDecodeReadResp(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 20; i++ {
		b, _ := proto.Marshal(recorded(r))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got streams.ReadResp
		if !DecodeReadResp(bytes.Clone(b), &got) {
			return
		}
		std, err := standard(t, b)
		if err != nil {
			t.Fatalf("decoded what the standard decoder rejects (%v): %x", err, b)
		}
		if !proto.Equal(&got, std) {
			t.Fatalf("decoded\n%v\nstandard\n%v", &got, std)
		}
	})
}

func BenchmarkUnmarshalReadResp(b *testing.B) {
	m := recorded(rand.New(rand.NewPCG(9, 10)))
	m.GetEvent().Event.Data = bytes.Repeat([]byte("x"), 150)
	wire, _ := proto.Marshal(m)
	for _, c := range []struct {
		name  string
		codec encoding.CodecV2
	}{{"standard", stdCodec()}, {"esdbcodec", encoding.GetCodecV2(grpcproto.Name)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var got streams.ReadResp
				if err := c.codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
