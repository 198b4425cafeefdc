// Package esdbcodec replaces gRPC's proto codec, for every gRPC client and server in the
// process, with one that decodes the event store's read responses (a ReadResp carrying one
// recorded event, the message a read or a subscription receives once per event) straight from
// the wire into the official client's generated structs, without protobuf's reflective map
// decoding, and hands every other message, and every read response it does not recognise in
// full, to the standard codec unchanged.
//
// Reading the log is dominated by decoding these messages: with the standard codec, about a
// third of a projection rebuild's CPU went to decoding the metadata map of each event. The
// decoded message is the one the standard codec would produce (the tests compare the two on
// real and on fuzzed input), so the official client runs unchanged on top of it.
//
// gRPC looks its codecs up by name on every call, and allows a codec to be registered only
// from an init function; importing this package is what installs it.
package esdbcodec

import (
	"unicode/utf8"
	"unsafe"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

func init() {
	std := encoding.GetCodecV2(proto.Name)
	if _, ok := std.(Codec); ok {
		return
	}
	encoding.RegisterCodecV2(Codec{std: std})
}

// Codec is the gRPC codec this package registers under the proto codec's name.
type Codec struct{ std encoding.CodecV2 }

// Name is the proto codec's name: the wire format is the same.
func (c Codec) Name() string { return c.std.Name() }

// Marshal encodes v with the standard codec.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) { return c.std.Marshal(v) }

// Unmarshal decodes data into v: a read response carrying one recorded event directly, any
// other message with the standard codec.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*streams.ReadResp)
	// Only a response that starts with the event field can carry an event: confirmations,
	// checkpoints and the like go to the standard codec without being copied first.
	if !ok || len(data) == 0 || !startsWithEvent(data[0].ReadOnlyData()) {
		return c.std.Unmarshal(data, v)
	}
	// The decoded message keeps no reference to data, whose buffers gRPC reuses: it points
	// into one private copy of the payload.
	var own []byte
	if len(data) == 1 {
		own = append([]byte(nil), data[0].ReadOnlyData()...)
	} else {
		own = data.Materialize()
	}
	if DecodeReadResp(own, m) {
		return nil
	}
	return c.std.Unmarshal(data, v)
}

// startsWithEvent reports whether b opens with the tag of ReadResp.event.
func startsWithEvent(b []byte) bool {
	return len(b) > 0 && b[0] == byte(protowire.EncodeTag(fReadRespEvent, protowire.BytesType))
}

// Field numbers of the messages this package decodes (streams.proto and shared.proto).
const (
	fReadRespEvent         = 1 // ReadResp.event
	fReadEventEvent        = 1 // ReadEvent.event
	fReadEventCommitPos    = 3 // ReadEvent.commit_position
	fReadEventNoPos        = 4 // ReadEvent.no_position
	fRecordedID            = 1
	fRecordedStream        = 2
	fRecordedRevision      = 3
	fRecordedPrepare       = 4
	fRecordedCommit        = 5
	fRecordedMetadata      = 6
	fRecordedCustomMeta    = 7
	fRecordedData          = 8
	fUUIDStructured        = 1
	fUUIDString            = 2
	fStructuredMost        = 1
	fStructuredLeast       = 2
	fStreamIdentifierName  = 3
	fMapEntryKey           = 1
	fMapEntryValue         = 2
	maxRecordedEventFields = 9
)

// messages holds every message of one decoded read response, so that decoding allocates
// them at once; the generated structs do not mind living inside a larger allocation.
type messages struct {
	event      streams.ReadResp_Event
	readEvent  streams.ReadResp_ReadEvent
	recorded   streams.ReadResp_ReadEvent_RecordedEvent
	id         shared.UUID
	structured shared.UUID_Structured_
	bits       shared.UUID_Structured
	stream     shared.StreamIdentifier
	commit     streams.ReadResp_ReadEvent_CommitPosition
}

// DecodeReadResp decodes b, the wire form of a ReadResp that carries one recorded event, into
// m and reports whether it could. It declines, leaving m as it found it, for any other kind of
// ReadResp and for anything the standard decoder treats in a way it does not reproduce:
// unknown or repeated fields, a resolved link, invalid UTF-8 in a string, malformed input.
//
// The decoded message aliases b, which the caller must not change afterwards: its byte fields
// are sub-slices of b (each capped at its own length, so appending to one cannot reach
// another), and its strings share b's memory. No two fields overlap, so writing into a byte
// field cannot change a string either.
func DecodeReadResp(b []byte, m *streams.ReadResp) bool {
	payload, ok := onlyBytesField(b, fReadRespEvent)
	if !ok {
		return false
	}
	ms := new(messages)
	if !ms.decodeReadEvent(payload) {
		return false
	}
	m.Reset()
	ms.event.Event = &ms.readEvent
	m.Content = &ms.event
	return true
}

// onlyBytesField returns the payload of b when b is exactly one length-delimited field num.
func onlyBytesField(b []byte, num protowire.Number) ([]byte, bool) {
	n, typ, l := protowire.ConsumeTag(b)
	if l < 0 || n != num || typ != protowire.BytesType {
		return nil, false
	}
	v, l2 := protowire.ConsumeBytes(b[l:])
	if l2 < 0 || l+l2 != len(b) {
		return nil, false
	}
	return v, true
}

func (ms *messages) decodeReadEvent(b []byte) bool {
	re := &ms.readEvent
	var seen [5]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || num < 1 || int(num) >= len(seen) || seen[num] {
			return false
		}
		seen[num] = true
		b = b[l:]
		switch {
		case num == fReadEventEvent && typ == protowire.BytesType:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return false
			}
			if !ms.decodeRecordedEvent(v) {
				return false
			}
			re.Event, b = &ms.recorded, b[l:]
		case num == fReadEventCommitPos && typ == protowire.VarintType:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 || seen[fReadEventNoPos] {
				return false
			}
			ms.commit.CommitPosition = v
			re.Position, b = &ms.commit, b[l:]
		case num == fReadEventNoPos && typ == protowire.BytesType:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 || len(v) != 0 || seen[fReadEventCommitPos] {
				return false
			}
			re.Position, b = &streams.ReadResp_ReadEvent_NoPosition{NoPosition: &shared.Empty{}}, b[l:]
		default: // a resolved link (field 2), an unknown field or a wrong wire type
			return false
		}
	}
	return true
}

func (ms *messages) decodeRecordedEvent(b []byte) bool {
	ev := &ms.recorded
	var seen [maxRecordedEventFields]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || num < 1 || int(num) >= len(seen) || seen[num] && num != fRecordedMetadata {
			return false
		}
		seen[num] = true
		b = b[l:]
		if num >= fRecordedRevision && num <= fRecordedCommit {
			if typ != protowire.VarintType {
				return false
			}
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return false
			}
			b = b[l:]
			switch num {
			case fRecordedRevision:
				ev.StreamRevision = v
			case fRecordedPrepare:
				ev.PreparePosition = v
			default:
				ev.CommitPosition = v
			}
			continue
		}
		if typ != protowire.BytesType {
			return false
		}
		v, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return false
		}
		b = b[l:]
		switch num {
		case fRecordedID:
			if !ms.decodeUUID(v) {
				return false
			}
			ev.Id = &ms.id
		case fRecordedStream:
			name, ok := decodeStreamName(v)
			if !ok {
				return false
			}
			ms.stream.StreamName = name
			ev.StreamIdentifier = &ms.stream
		case fRecordedMetadata:
			k, val, ok := decodeMapEntry(v)
			if !ok {
				return false
			}
			if ev.Metadata == nil {
				ev.Metadata = make(map[string]string, 3)
			}
			ev.Metadata[k] = val
		case fRecordedCustomMeta:
			ev.CustomMetadata = capped(v)
		case fRecordedData:
			ev.Data = capped(v)
		}
	}
	return true
}

// capped returns v with its capacity cut to its length, so that appending to it cannot
// overwrite what follows it in the shared payload; an empty v becomes a non-nil empty slice,
// as the standard decoder returns it.
func capped(v []byte) []byte {
	if len(v) == 0 {
		return []byte{}
	}
	return v[:len(v):len(v)]
}

func (ms *messages) decodeUUID(b []byte) bool {
	id := &ms.id
	seen := false
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || typ != protowire.BytesType || seen {
			return false
		}
		seen = true
		v, l2 := protowire.ConsumeBytes(b[l:])
		if l2 < 0 {
			return false
		}
		b = b[l+l2:]
		switch num {
		case fUUIDStructured:
			if !decodeStructured(v, &ms.bits) {
				return false
			}
			ms.structured.Structured = &ms.bits
			id.Value = &ms.structured
		case fUUIDString:
			if !utf8.Valid(v) {
				return false
			}
			id.Value = &shared.UUID_String_{String_: str(v)}
		default:
			return false
		}
	}
	return true
}

func decodeStructured(b []byte, s *shared.UUID_Structured) bool {
	var seen [3]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || typ != protowire.VarintType || num < 1 || int(num) >= len(seen) || seen[num] {
			return false
		}
		seen[num] = true
		v, l2 := protowire.ConsumeVarint(b[l:])
		if l2 < 0 {
			return false
		}
		b = b[l+l2:]
		if num == fStructuredMost {
			s.MostSignificantBits = int64(v)
		} else {
			s.LeastSignificantBits = int64(v)
		}
	}
	return true
}

func decodeStreamName(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, true
	}
	v, ok := onlyBytesField(b, fStreamIdentifierName)
	if !ok {
		return nil, false
	}
	return capped(v), true
}

// str returns v as a string that shares v's memory (see DecodeReadResp for why that is safe).
func str(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	return unsafe.String(&v[0], len(v))
}

func decodeMapEntry(b []byte) (key, value string, ok bool) {
	var seen [3]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || typ != protowire.BytesType || num < 1 || int(num) >= len(seen) || seen[num] {
			return "", "", false
		}
		seen[num] = true
		v, l2 := protowire.ConsumeBytes(b[l:])
		if l2 < 0 || !utf8.Valid(v) {
			return "", "", false
		}
		b = b[l+l2:]
		if num == fMapEntryKey {
			key = str(v)
		} else {
			value = str(v)
		}
	}
	return key, value, true
}
