package keyring

import (
	"context"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/arkiv/arkiv/domain"
)

// Codec turns event payloads into bytes for the event store and back. It is what command
// handlers and projections declare (they declare their own copy of this interface).
type Codec interface {
	// Encode marshals payload (a struct or a pointer to one) to JSON, sealing every
	// domain.Sealed field under its subjects, bound to eventID and the field's path.
	Encode(ctx context.Context, eventID string, payload any) ([]byte, error)
	// Decode unmarshals data into into (a pointer), opening every Sealed field; a field one
	// of whose subjects is erased comes back with Redacted set and Plain empty.
	Decode(ctx context.Context, eventID string, data []byte, into any) error
}

// Envelope prefixes of a Sealed field on the wire (a JSON string). A zero Sealed (no text,
// no subjects) is written as "".
const (
	// EncryptedPrefix starts a sealed field: "ak1." + base64url(blob of Keyring.Seal).
	EncryptedPrefix = "ak1."
	// PlainPrefix starts a field written by the plaintext codec: "ak0." + base64url(0x00,
	// subject count, subjects as in the blob header without DEK versions, plaintext).
	PlainPrefix = "ak0."
)

// EventCodec is the Codec implementation: JSON through go-json-experiment with encoding/json's
// semantics (json/v1.DefaultOptionsV1), and every Sealed written as an envelope by a
// marshal function (sealedMarshal, sealedUnmarshal) that the call passes in as an option
// carrying its context and event id. Field paths are the JSON names from the root, joined by
// "." with slice indices and map keys as segments, e.g. "message.text" or
// "attachments.2.name": the encoder's JSON Pointer to the field, "." for "/". Upcasters must
// leave sealed fields at their paths.
//
// Supported around Sealed: structs (embedded structs are flattened as encoding/json does),
// pointers, slices, arrays and maps with string keys. A type that contains Sealed may not
// marshal itself or be recursive (checkType refuses it, as the reflective codec before it
// did); a Sealed inside an interface value of a type that holds no Sealed is refused (by
// Sealed.MarshalJSON) rather than leaked.
type EventCodec struct {
	f     fieldSealer
	types sync.Map // reflect.Type -> *typeCheck
}

// fieldSealer seals and opens one field's text.
type fieldSealer interface {
	seal(ctx context.Context, subjects []domain.Subject, ad []byte, plain string) (string, error)
	open(ctx context.Context, env string, ad []byte) (domain.Sealed, error)
}

// NewCodec returns the encrypting codec over k.
func NewCodec(k *Keyring) *EventCodec { return &EventCodec{f: encryptingSealer{k}} }

// NewPlainCodec returns the plaintext codec: the same wire shape without encryption, for
// tests and for measuring the cost of encryption. Never use it for stored events.
func NewPlainCodec() *EventCodec { return &EventCodec{f: plainSealer{}} }

var _ Codec = (*EventCodec)(nil)

// v1Options are encoding/json's semantics: what the events in the store were written with.
var v1Options = jsonv1.DefaultOptionsV1()

// sealedOptions are v1Options for types holding a Sealed, with omitempty meaning "the value
// encodes as "", null, {} or []", as the reflective codec before it did for a zero Sealed
// (written as ""): encoding/json's omitempty never omits a struct. Its one other effect: a
// zero number or false tagged omitempty is written rather than left out in these types;
// both read back the same.
var sealedOptions = json.JoinOptions(v1Options, jsonv1.OmitEmptyWithLegacySemantics(false))

// Encode implements Codec.
func (c *EventCodec) Encode(ctx context.Context, eventID string, payload any) ([]byte, error) {
	const op = "keyring.encode"
	if payload == nil {
		return nil, domain.E(domain.KindInternal, op, "nil payload")
	}
	holds, err := c.check(reflect.TypeOf(payload))
	if err != nil {
		return nil, err
	}
	if !holds {
		b, err := json.Marshal(payload, v1Options)
		if err != nil {
			return nil, domain.Wrap(domain.KindInternal, op, err, "")
		}
		return b, nil
	}
	st := &fieldCall{ctx: ctx, c: c, eventID: eventID}
	b, err := json.Marshal(payload, sealedOptions, json.WithMarshalers(json.MarshalToFunc(st.marshal)))
	if st.err != nil {
		return nil, st.err
	}
	if err != nil {
		return nil, domain.Wrap(domain.KindInternal, op, err, "")
	}
	return b, nil
}

// Decode implements Codec.
func (c *EventCodec) Decode(ctx context.Context, eventID string, data []byte, into any) error {
	const op = "keyring.decode"
	rv := reflect.ValueOf(into)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return domain.E(domain.KindInternal, op, "decode needs a non-nil pointer")
	}
	holds, err := c.check(rv.Type().Elem())
	if err != nil {
		return err
	}
	if !holds {
		if err := json.Unmarshal(data, into, v1Options); err != nil {
			return domain.Wrap(domain.KindInternal, op, err, "bad event payload")
		}
		return nil
	}
	st := &fieldCall{ctx: ctx, c: c, eventID: eventID}
	err = json.Unmarshal(data, into, sealedOptions, json.WithUnmarshalers(json.UnmarshalFromFunc(st.unmarshal)))
	if st.err != nil {
		return st.err
	}
	if err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "bad event payload")
	}
	return nil
}

// fieldCall is one Encode or Decode call's state: what the marshal functions need besides
// the field, and the first error of the keyring (returned as is, not wrapped by the JSON
// library).
type fieldCall struct {
	ctx     context.Context
	c       *EventCodec
	eventID string
	err     error
}

// marshal writes s as its envelope, sealed under its subjects and bound to the event id and
// the field's path.
func (st *fieldCall) marshal(enc *jsontext.Encoder, s domain.Sealed) error {
	if s.Redacted {
		st.err = domain.Errorf(domain.KindErased, "keyring.encode", "field %s is redacted and cannot be written again", encoderPath(enc))
		return st.err
	}
	if s.Plain == "" && len(s.Subjects) == 0 {
		return enc.WriteToken(jsontext.String(""))
	}
	env, err := st.c.f.seal(st.ctx, s.Subjects, fieldAD(st.eventID, encoderPath(enc)), s.Plain)
	if err != nil {
		st.err = err
		return err
	}
	return enc.WriteToken(jsontext.String(env))
}

// unmarshal reads an envelope (a string; null or "" is a zero Sealed) and opens it.
func (st *fieldCall) unmarshal(dec *jsontext.Decoder, s *domain.Sealed) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		*s = domain.Sealed{}
		return nil
	case '"':
	default:
		return domain.E(domain.KindInternal, "keyring.decode", "sealed field is not a string")
	}
	env := tok.String()
	if env == "" {
		*s = domain.Sealed{}
		return nil
	}
	// After the read, the decoder's pointer names the field just read.
	v, err := st.c.f.open(st.ctx, env, fieldAD(st.eventID, pointerPath(dec.StackPointer())))
	if err != nil {
		st.err = err
		return err
	}
	*s = v
	return nil
}

// encoderPath is the path of the value enc is about to write: its JSON Pointer, whose last
// token is the member name inside an object but, inside an array, the element written last
// (or none), so the index comes from the array's length.
func encoderPath(enc *jsontext.Encoder) string {
	p := enc.StackPointer()
	if kind, n := enc.StackIndex(enc.StackDepth()); kind == '[' {
		if n > 0 {
			p = p.Parent()
		}
		p = p.AppendToken(strconv.FormatInt(n, 10))
	}
	return pointerPath(p)
}

// pointerPath turns a JSON Pointer ("/attachments/2/name") into a field path
// ("attachments.2.name").
func pointerPath(p jsontext.Pointer) string {
	if !strings.Contains(string(p), "~") {
		return strings.ReplaceAll(strings.TrimPrefix(string(p), "/"), "/", ".")
	}
	var b strings.Builder
	for tok := range p.Tokens() {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// fieldAD is the associated data of the field at path of event eventID:
// uvarint(len(eventID)) ‖ eventID ‖ path.
func fieldAD(eventID, path string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(eventID)+len(path))
	b = binary.AppendUvarint(b, uint64(len(eventID)))
	b = append(b, eventID...)
	return append(b, path...)
}

// typeCheck is the cached verdict on a type: whether it holds a Sealed, or why the codec
// refuses it.
type typeCheck struct {
	holds bool
	err   error
}

var (
	sealedType     = reflect.TypeFor[domain.Sealed]()
	selfMarshalers = []reflect.Type{
		reflect.TypeFor[json.Marshaler](), reflect.TypeFor[json.MarshalerTo](),
		reflect.TypeFor[json.Unmarshaler](), reflect.TypeFor[json.UnmarshalerFrom](),
		reflect.TypeFor[encoding.TextMarshaler](),
	}
)

// check reports whether t holds a Sealed field, refusing the shapes the codec does not
// support around one; the verdict is cached per type.
func (c *EventCodec) check(t reflect.Type) (bool, error) {
	if r, ok := c.types.Load(t); ok {
		return r.(*typeCheck).holds, r.(*typeCheck).err
	}
	holds := contains(t, map[reflect.Type]bool{})
	var err error
	if holds {
		err = checkType(t, map[reflect.Type]bool{}, map[reflect.Type]bool{})
	}
	c.types.Store(t, &typeCheck{holds, err})
	return holds, err
}

func typeErr(t reflect.Type, msg string) error {
	return domain.Errorf(domain.KindInternal, "keyring.codec", "event type %s: %s", t, msg)
}

// contains reports whether t holds a Sealed anywhere (not through interfaces).
func contains(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == sealedType {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return contains(t.Elem(), seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if contains(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// checkType refuses, in a type holding a Sealed: recursion, types that marshal themselves,
// maps without string keys, embedded pointers and unexported fields holding one.
func checkType(t reflect.Type, building, done map[reflect.Type]bool) error {
	if t == sealedType || done[t] || !contains(t, map[reflect.Type]bool{}) {
		return nil
	}
	if building[t] {
		return typeErr(t, "recursive types holding Sealed fields are not supported")
	}
	building[t] = true
	defer delete(building, t)
	for _, it := range selfMarshalers {
		// A pointer's methods are its element's, which is checked in turn.
		if t.Kind() != reflect.Pointer && (t.Implements(it) || reflect.PointerTo(t).Implements(it)) {
			return typeErr(t, "a type holding Sealed fields may not marshal itself")
		}
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return typeErr(t, "maps holding Sealed fields need string keys")
		}
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			holds := contains(f.Type, map[reflect.Type]bool{})
			if f.Anonymous && name == "" && f.Type.Kind() != reflect.Struct && (holds || !f.IsExported()) {
				return typeErr(t, "embedded pointer "+f.Name+" is not supported here: give it a name")
			}
			if !f.IsExported() && !f.Anonymous && holds {
				return typeErr(t, "unexported field "+f.Name+" holds a Sealed field")
			}
			if err := checkType(f.Type, building, done); err != nil {
				return err
			}
		}
	default:
		return typeErr(t, "unsupported kind around a Sealed field")
	}
	if t.Kind() != reflect.Struct {
		if err := checkType(t.Elem(), building, done); err != nil {
			return err
		}
	}
	done[t] = true
	return nil
}

type encryptingSealer struct{ k *Keyring }

func (e encryptingSealer) seal(ctx context.Context, subjects []domain.Subject, ad []byte, plain string) (string, error) {
	blob, err := e.k.Seal(ctx, subjects, ad, []byte(plain))
	if err != nil {
		return "", err
	}
	return EncryptedPrefix + base64.RawURLEncoding.EncodeToString(blob), nil
}

func (e encryptingSealer) open(ctx context.Context, env string, ad []byte) (domain.Sealed, error) {
	const op = "keyring.decode"
	b64, ok := strings.CutPrefix(env, EncryptedPrefix)
	if !ok {
		return domain.Sealed{}, domain.E(domain.KindInternal, op, "sealed field is not an encrypted envelope")
	}
	blob, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return domain.Sealed{}, domain.E(domain.KindInternal, op, "sealed field is not valid base64")
	}
	subjects, err := BlobSubjects(blob)
	if err != nil {
		return domain.Sealed{}, err
	}
	pt, err := e.k.Open(ctx, blob, ad)
	if domain.Is(domain.KindErased, err) {
		return domain.Sealed{Subjects: subjects, Redacted: true}, nil
	}
	if err != nil {
		return domain.Sealed{}, err
	}
	return domain.Sealed{Plain: string(pt), Subjects: subjects}, nil
}

type plainSealer struct{}

func (plainSealer) seal(_ context.Context, subjects []domain.Subject, _ []byte, plain string) (string, error) {
	subs, err := canonical("keyring.encode", subjects)
	if err != nil {
		return "", err
	}
	b := []byte{0}
	b = binary.AppendUvarint(b, uint64(len(subs)))
	for _, s := range subs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, plain...)
	return PlainPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

func (plainSealer) open(_ context.Context, env string, _ []byte) (domain.Sealed, error) {
	const op = "keyring.decode"
	bad := domain.E(domain.KindInternal, op, "malformed plaintext envelope")
	b64, ok := strings.CutPrefix(env, PlainPrefix)
	if !ok {
		return domain.Sealed{}, domain.E(domain.KindInternal, op, "field is not a plaintext envelope")
	}
	b, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(b) < 2 || b[0] != 0 {
		return domain.Sealed{}, bad
	}
	p := 1
	n, w := binary.Uvarint(b[p:])
	if w <= 0 || n == 0 || n > MaxSubjects {
		return domain.Sealed{}, bad
	}
	p += w
	subjects := make([]domain.Subject, n)
	for i := range subjects {
		l, w := binary.Uvarint(b[p:])
		if w <= 0 || uint64(len(b)-p-w) < l {
			return domain.Sealed{}, bad
		}
		p += w
		if subjects[i], err = domain.ParseSubject(string(b[p : p+int(l)])); err != nil {
			return domain.Sealed{}, bad
		}
		p += int(l)
	}
	return domain.Sealed{Plain: string(b[p:]), Subjects: subjects}, nil
}

// OpenField opens one sealed field as a read model keeps it: the envelope string copied from
// the event's payload, the event's id and the field's path in the payload ("title",
// "message.text"), which together with the subjects bind the ciphertext. It returns the
// plaintext, or redacted true and "" when a subject of the field has been erased. An empty
// envelope (a zero Sealed) opens to "". A tampered envelope, or one presented with another
// event id or path, is a KindInternal error.
func (c *EventCodec) OpenField(ctx context.Context, eventID, path, envelope string) (plain string, redacted bool, err error) {
	if envelope == "" {
		return "", false, nil
	}
	s, err := c.f.open(ctx, envelope, fieldAD(eventID, path))
	if err != nil {
		return "", false, err
	}
	return s.Plain, s.Redacted, nil
}

// FieldShredding explains why an envelope opens as redacted: since is the latest time one of
// its subjects entered shredding (zero when none is shredding) and destroyed reports that one
// of them is destroyed for good. A projection that re-derives a subject on an
// erasure.restored event uses it to tell keys not restored yet (shredding since before the
// restore: retry) from keys erased again later (skip). The plaintext codec's envelopes have
// no keys: zero, false.
func (c *EventCodec) FieldShredding(ctx context.Context, envelope string) (since time.Time, destroyed bool, err error) {
	const op = "keyring.field_shredding"
	es, ok := c.f.(encryptingSealer)
	if !ok || envelope == "" {
		return time.Time{}, false, nil
	}
	b64, ok := strings.CutPrefix(envelope, EncryptedPrefix)
	if !ok {
		return time.Time{}, false, domain.E(domain.KindInternal, op, "sealed field is not an encrypted envelope")
	}
	blob, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return time.Time{}, false, domain.E(domain.KindInternal, op, "sealed field is not valid base64")
	}
	subjects, err := BlobSubjects(blob)
	if err != nil {
		return time.Time{}, false, err
	}
	for _, s := range subjects {
		st, err := es.k.State(ctx, s)
		if err != nil {
			return time.Time{}, false, err
		}
		switch st.Status {
		case StatusDestroyed:
			destroyed = true
		case StatusShredding:
			if st.ShredRequestedAt.After(since) {
				since = st.ShredRequestedAt
			}
		}
	}
	return since, destroyed, nil
}
