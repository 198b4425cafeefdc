package esdbserver

import (
	"strconv"
	"sync"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// codec is the server's gRPC codec: a *record sent on a read stream is encoded straight
// into the wire form of a ReadResp carrying that event (no message tree, no metadata map,
// no per-event strings); every other message goes through the standard proto codec.
type codec struct{ std encoding.CodecV2 }

func newCodec() codec { return codec{std: encoding.GetCodecV2(proto.Name)} }

// Marshal encodes v.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	r, ok := v.(*record)
	if !ok {
		return c.std.Marshal(v)
	}
	var tick [20]byte
	created := strconv.AppendInt(tick[:0], r.created, 10)
	size := eventRespSize(r, created)
	// Every message comes from a buffer pool and goes back once written, small ones too: a
	// read sends one message per event, and allocating each was the largest part of the
	// server's garbage.
	buf := messagePool.Get(size)
	*buf = appendEventResp((*buf)[:0], r, created)
	return mem.BufferSlice{mem.NewBuffer(buf, messagePool)}, nil
}

// messagePool pools the buffers of read messages. gRPC's own pool leaves buffers of 1 KiB or
// less to the garbage collector and clears every buffer it hands out; the messages of most
// events are a few hundred bytes, and Marshal overwrites what it sends, so small messages
// share buffers of smallMessage bytes that are neither cleared nor collected (mem.NewBuffer
// pools a buffer by its capacity, which is above its threshold). Larger ones go to gRPC's.
var messagePool mem.BufferPool = smallFirstPool{}

const smallMessage = 2 << 10

type smallFirstPool struct{}

var smallBuffers = sync.Pool{New: func() any { b := make([]byte, 0, smallMessage); return &b }}

// Get returns a buffer of length n.
func (smallFirstPool) Get(n int) *[]byte {
	if n > smallMessage {
		return mem.DefaultBufferPool().Get(n)
	}
	b := smallBuffers.Get().(*[]byte)
	*b = (*b)[:n]
	return b
}

// Put takes a buffer back.
func (smallFirstPool) Put(b *[]byte) {
	if cap(*b) == smallMessage {
		smallBuffers.Put(b)
		return
	}
	mem.DefaultBufferPool().Put(b)
}

// Unmarshal decodes data into v with the standard proto codec.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.std.Unmarshal(data, v) }

// Name is the standard codec's name: the wire format is the same.
func (c codec) Name() string { return c.std.Name() }

// Field numbers of the ReadResp messages (streams.proto, shared.proto).
const (
	fReadRespEvent        = 1 // ReadResp.event
	fReadEventEvent       = 1 // ReadEvent.event
	fReadEventCommitPos   = 3 // ReadEvent.commit_position
	fRecID                = 1
	fRecStreamIdentifier  = 2
	fRecStreamRevision    = 3
	fRecPreparePosition   = 4
	fRecCommitPosition    = 5
	fRecMetadata          = 6
	fRecCustomMetadata    = 7
	fRecData              = 8
	fUUIDStructured       = 1
	fStructuredMost       = 1
	fStructuredLeast      = 2
	fStreamIdentifierName = 3
	fMapKey               = 1
	fMapValue             = 2
)

const (
	keyType        = "type"
	keyContentType = "content-type"
	keyCreated     = "created"
)

// lenField is the size of a length-delimited field whose payload is n bytes.
func lenField(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

// varintField is the size of a varint field holding v (proto3: 0 is not written).
func varintField(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + protowire.SizeVarint(v)
}

// bytesField is the size of a bytes/string field of n bytes (proto3: empty is not written).
func bytesField(n int) int {
	if n == 0 {
		return 0
	}
	return lenField(n)
}

func uuidStructSize(most, least int64) int {
	return varintField(uint64(most)) + varintField(uint64(least))
}

func mapEntrySize(k, v int) int { return lenField(k) + lenField(v) }

func recordedEventSize(r *record, created []byte) int {
	most, least := uuidHalves(r.id)
	return lenField(lenField(uuidStructSize(most, least))) +
		lenField(bytesField(len(r.stream))) +
		varintField(uint64(r.revision)) + 2*varintField(uint64(r.pos)) +
		lenField(mapEntrySize(len(keyType), len(r.typ))) +
		lenField(mapEntrySize(len(keyContentType), len(r.ctype))) +
		lenField(mapEntrySize(len(keyCreated), len(created))) +
		bytesField(len(r.meta)) + bytesField(len(r.data))
}

func readEventSize(r *record, created []byte) int {
	return lenField(recordedEventSize(r, created)) + 1 + protowire.SizeVarint(uint64(r.pos))
}

// eventRespSize is the encoded size of the ReadResp carrying r.
func eventRespSize(r *record, created []byte) int { return lenField(readEventSize(r, created)) }

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendLen(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return append(appendLen(b, num, len(v)), v...)
}

func appendStringField(b []byte, num protowire.Number, v string) []byte {
	if len(v) == 0 {
		return b
	}
	return append(appendLen(b, num, len(v)), v...)
}

func appendMapEntry[V string | []byte](b []byte, k string, v V) []byte {
	b = appendLen(b, fRecMetadata, mapEntrySize(len(k), len(v)))
	b = append(appendLen(b, fMapKey, len(k)), k...)
	return append(appendLen(b, fMapValue, len(v)), v...)
}

// appendEventResp appends the wire form of the ReadResp carrying r: the event with its
// id, stream, revision, positions, the type/content-type/created metadata, custom
// metadata and data, and the commit position of the read event.
func appendEventResp(b []byte, r *record, created []byte) []byte {
	b = appendLen(b, fReadRespEvent, readEventSize(r, created))
	b = appendLen(b, fReadEventEvent, recordedEventSize(r, created))
	most, least := uuidHalves(r.id)
	us := uuidStructSize(most, least)
	b = appendLen(b, fRecID, lenField(us))
	b = appendLen(b, fUUIDStructured, us)
	b = appendVarintField(b, fStructuredMost, uint64(most))
	b = appendVarintField(b, fStructuredLeast, uint64(least))
	b = appendLen(b, fRecStreamIdentifier, bytesField(len(r.stream)))
	b = appendStringField(b, fStreamIdentifierName, r.stream)
	b = appendVarintField(b, fRecStreamRevision, uint64(r.revision))
	b = appendVarintField(b, fRecPreparePosition, uint64(r.pos))
	b = appendVarintField(b, fRecCommitPosition, uint64(r.pos))
	b = appendMapEntry(b, keyType, r.typ)
	b = appendMapEntry(b, keyContentType, r.ctype)
	b = appendMapEntry(b, keyCreated, created)
	b = appendBytesField(b, fRecCustomMetadata, r.meta)
	b = appendBytesField(b, fRecData, r.data)
	b = protowire.AppendTag(b, fReadEventCommitPos, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(r.pos))
}
