package esdbserver

import (
	"strconv"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/protobuf/proto"
)

// referenceResp builds, with the generated types, the ReadResp the codec encodes for r.
func referenceResp(r *record) *streams.ReadResp {
	most, least := uuidHalves(r.id)
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id: &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
				MostSignificantBits: most, LeastSignificantBits: least}}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   uint64(r.revision),
			PreparePosition:  uint64(r.pos),
			CommitPosition:   uint64(r.pos),
			Metadata: map[string]string{
				"type":         r.typ,
				"content-type": r.ctype,
				"created":      strconv.FormatInt(r.created, 10),
			},
			CustomMetadata: r.meta,
			Data:           r.data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: uint64(r.pos)},
	}}}
}

func TestCodecEncodesRecordAsReadResp(t *testing.T) {
	big := make([]byte, 70_000)
	for i := range big {
		big[i] = byte(i)
	}
	cases := map[string]*record{
		"typical": {pos: 1234567, stream: "order-42", revision: 17, id: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
			typ: "OrderPlaced", ctype: "application/json", created: 17_000_000_000_000_000, data: []byte(`{"a":1}`), meta: []byte(`{"m":2}`)},
		"zeros": {pos: 0, stream: "", revision: 0, typ: "", ctype: "", created: 0},
		"negative halves and tombstone": {pos: 1, stream: "s", revision: tombstoneRevision,
			id: [16]byte{0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0x80}, typ: "$streamDeleted", ctype: "application/octet-stream", created: -5},
		"large data": {pos: 1 << 40, stream: "big", revision: 1 << 33, id: [16]byte{15: 1}, typ: "Big",
			ctype: "application/octet-stream", created: 1, data: big, meta: big[:300]},
	}
	c := newCodec()
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			bs, err := c.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			wire := bs.Materialize()
			bs.Free()
			var got streams.ReadResp
			if err := proto.Unmarshal(wire, &got); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			want := referenceResp(r)
			if !proto.Equal(&got, want) {
				t.Fatalf("decoded %v, want %v", &got, want)
			}
			if n := proto.Size(want); n != len(wire) {
				t.Fatalf("encoded %d bytes, the proto encoding has %d", len(wire), n)
			}
		})
	}
}

func TestCodecPassesOtherMessagesThrough(t *testing.T) {
	c := newCodec()
	in := &streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: 9, PreparePosition: 9}}}
	bs, err := c.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out streams.ReadResp
	if err := c.Unmarshal(bs, &out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, &out) {
		t.Fatalf("round trip gave %v, want %v", &out, in)
	}
}
