package keyring

import (
	"context"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

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

// EventCodec is the Codec implementation: JSON with Sealed fields found by reflection (the
// per-type plan is cached) and written as envelopes. Field paths are the JSON names from the
// root, joined by "." with slice indices and map keys as segments, e.g. "message.text" or
// "attachments.2.name". Upcasters must leave sealed fields at their paths.
//
// Supported around Sealed: structs (embedded structs are flattened as encoding/json does),
// pointers, slices, arrays and maps with string keys.
// A type that contains Sealed may not implement json.Marshaler/Unmarshaler or be recursive;
// Sealed inside an interface value is refused (by Sealed.MarshalJSON) rather than leaked.
type EventCodec struct {
	f     fieldSealer
	plans sync.Map // reflect.Type -> *planResult
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

// Encode implements Codec.
func (c *EventCodec) Encode(ctx context.Context, eventID string, payload any) ([]byte, error) {
	const op = "keyring.encode"
	v := reflect.ValueOf(payload)
	if !v.IsValid() {
		return nil, domain.E(domain.KindInternal, op, "nil payload")
	}
	p, err := c.plan(v.Type())
	if err != nil {
		return nil, err
	}
	if p == nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, domain.Wrap(domain.KindInternal, op, err, "")
		}
		return b, nil
	}
	w := reflect.New(p.wire).Elem()
	st := &walk{ctx: ctx, c: c, eventID: eventID}
	if err := p.enc(st, w, v, ""); err != nil {
		return nil, err
	}
	b, err := json.Marshal(w.Interface())
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
	p, err := c.plan(rv.Type().Elem())
	if err != nil {
		return err
	}
	if p == nil {
		if err := json.Unmarshal(data, into); err != nil {
			return domain.Wrap(domain.KindInternal, op, err, "bad event payload")
		}
		return nil
	}
	w := reflect.New(p.wire)
	if err := json.Unmarshal(data, w.Interface()); err != nil {
		return domain.Wrap(domain.KindInternal, op, err, "bad event payload")
	}
	st := &walk{ctx: ctx, c: c, eventID: eventID}
	return p.dec(st, rv.Elem(), w.Elem(), "")
}

// walk is one Encode or Decode call's state.
type walk struct {
	ctx     context.Context
	c       *EventCodec
	eventID string
}

// ad is the associated data of the field at path: len(eventID) ‖ eventID ‖ path.
func (w *walk) ad(path string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(w.eventID)+len(path))
	b = binary.AppendUvarint(b, uint64(len(w.eventID)))
	b = append(b, w.eventID...)
	return append(b, path...)
}

// plan converts between a type and its wire type, in which every Sealed is a string.
type plan struct {
	wire reflect.Type
	enc  func(w *walk, dst, src reflect.Value, path string) error // dst: wire, src: original
	dec  func(w *walk, dst, src reflect.Value, path string) error // dst: original, src: wire
}

type planResult struct {
	p   *plan
	err error
}

var (
	sealedType    = reflect.TypeFor[domain.Sealed]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	unmarshalType = reflect.TypeFor[json.Unmarshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// plan returns t's cached plan; nil when t holds no Sealed field.
func (c *EventCodec) plan(t reflect.Type) (*plan, error) {
	if r, ok := c.plans.Load(t); ok {
		return r.(*planResult).p, r.(*planResult).err
	}
	b := &planBuilder{building: map[reflect.Type]bool{}, built: map[reflect.Type]*plan{}}
	p, err := b.build(t)
	c.plans.Store(t, &planResult{p, err})
	return p, err
}

type planBuilder struct {
	building map[reflect.Type]bool
	built    map[reflect.Type]*plan
}

func planErr(t reflect.Type, msg string) error {
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

func (b *planBuilder) build(t reflect.Type) (p *plan, err error) {
	if t == sealedType {
		return sealedPlan, nil
	}
	if !contains(t, map[reflect.Type]bool{}) {
		return nil, nil
	}
	if p, ok := b.built[t]; ok {
		return p, nil
	}
	if b.building[t] {
		return nil, planErr(t, "recursive types holding Sealed fields are not supported")
	}
	b.building[t] = true
	defer delete(b.building, t)
	for _, it := range []reflect.Type{marshalerType, unmarshalType, textMarshaler} {
		// A pointer's methods are its element's, which is checked in turn.
		if t.Kind() != reflect.Pointer && (t.Implements(it) || reflect.PointerTo(t).Implements(it)) {
			return nil, planErr(t, "a type holding Sealed fields may not marshal itself")
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		p, err = b.pointer(t)
	case reflect.Slice:
		p, err = b.slice(t)
	case reflect.Array:
		p, err = b.array(t)
	case reflect.Map:
		p, err = b.mapPlan(t)
	case reflect.Struct:
		p, err = b.structPlan(t)
	default:
		err = planErr(t, "unsupported kind around a Sealed field")
	}
	if err == nil {
		b.built[t] = p
	}
	return p, err
}

func join(path, seg string) string {
	if path == "" {
		return seg
	}
	return path + "." + seg
}

func (b *planBuilder) pointer(t reflect.Type) (*plan, error) {
	ep, err := b.build(t.Elem())
	if err != nil {
		return nil, err
	}
	return &plan{
		wire: reflect.PointerTo(ep.wire),
		enc: func(w *walk, dst, src reflect.Value, path string) error {
			if src.IsNil() {
				return nil
			}
			nv := reflect.New(ep.wire)
			if err := ep.enc(w, nv.Elem(), src.Elem(), path); err != nil {
				return err
			}
			dst.Set(nv)
			return nil
		},
		dec: func(w *walk, dst, src reflect.Value, path string) error {
			if src.IsNil() {
				dst.SetZero()
				return nil
			}
			nv := reflect.New(t.Elem())
			if err := ep.dec(w, nv.Elem(), src.Elem(), path); err != nil {
				return err
			}
			dst.Set(nv)
			return nil
		},
	}, nil
}

func (b *planBuilder) slice(t reflect.Type) (*plan, error) {
	ep, err := b.build(t.Elem())
	if err != nil {
		return nil, err
	}
	wt := reflect.SliceOf(ep.wire)
	return &plan{
		wire: wt,
		enc: func(w *walk, dst, src reflect.Value, path string) error {
			if src.IsNil() {
				return nil
			}
			out := reflect.MakeSlice(wt, src.Len(), src.Len())
			for i := 0; i < src.Len(); i++ {
				if err := ep.enc(w, out.Index(i), src.Index(i), join(path, strconv.Itoa(i))); err != nil {
					return err
				}
			}
			dst.Set(out)
			return nil
		},
		dec: func(w *walk, dst, src reflect.Value, path string) error {
			if src.IsNil() {
				dst.SetZero()
				return nil
			}
			out := reflect.MakeSlice(t, src.Len(), src.Len())
			for i := 0; i < src.Len(); i++ {
				if err := ep.dec(w, out.Index(i), src.Index(i), join(path, strconv.Itoa(i))); err != nil {
					return err
				}
			}
			dst.Set(out)
			return nil
		},
	}, nil
}

func (b *planBuilder) array(t reflect.Type) (*plan, error) {
	ep, err := b.build(t.Elem())
	if err != nil {
		return nil, err
	}
	return &plan{
		wire: reflect.ArrayOf(t.Len(), ep.wire),
		enc: func(w *walk, dst, src reflect.Value, path string) error {
			for i := 0; i < src.Len(); i++ {
				if err := ep.enc(w, dst.Index(i), src.Index(i), join(path, strconv.Itoa(i))); err != nil {
					return err
				}
			}
			return nil
		},
		dec: func(w *walk, dst, src reflect.Value, path string) error {
			for i := 0; i < src.Len(); i++ {
				if err := ep.dec(w, dst.Index(i), src.Index(i), join(path, strconv.Itoa(i))); err != nil {
					return err
				}
			}
			return nil
		},
	}, nil
}

func (b *planBuilder) mapPlan(t reflect.Type) (*plan, error) {
	if t.Key().Kind() != reflect.String {
		return nil, planErr(t, "maps holding Sealed fields need string keys")
	}
	ep, err := b.build(t.Elem())
	if err != nil {
		return nil, err
	}
	wt := reflect.MapOf(t.Key(), ep.wire)
	return &plan{
		wire: wt,
		enc: func(w *walk, dst, src reflect.Value, path string) error {
			if src.IsNil() {
				return nil
			}
			out := reflect.MakeMapWithSize(wt, src.Len())
			it := src.MapRange()
			for it.Next() {
				ev := reflect.New(ep.wire).Elem()
				if err := ep.enc(w, ev, it.Value(), join(path, it.Key().String())); err != nil {
					return err
				}
				out.SetMapIndex(it.Key(), ev)
			}
			dst.Set(out)
			return nil
		},
		dec: func(w *walk, dst, src reflect.Value, path string) error {
			if src.IsNil() {
				dst.SetZero()
				return nil
			}
			out := reflect.MakeMapWithSize(t, src.Len())
			it := src.MapRange()
			for it.Next() {
				ev := reflect.New(t.Elem()).Elem()
				if err := ep.dec(w, ev, it.Value(), join(path, it.Key().String())); err != nil {
					return err
				}
				out.SetMapIndex(it.Key(), ev)
			}
			dst.Set(out)
			return nil
		},
	}, nil
}

type fieldStep struct {
	src  []int  // field index path in the original (through embedded structs)
	dst  int    // field index in the wire struct
	name string // path segment
	p    *plan  // nil: copied as is
}

// structPlan builds a wire struct. Embedded structs without a JSON name are flattened into
// it, so their fields are promoted exactly as encoding/json promotes them; a field of the
// outer struct wins over a promoted field of the same name.
func (b *planBuilder) structPlan(t reflect.Type) (p *plan, err error) {
	var fields []reflect.StructField
	var steps []fieldStep
	goNames, jsonNames := map[string]bool{}, map[string]bool{}
	var collect func(st reflect.Type, index []int) error
	collect = func(st reflect.Type, index []int) error {
		type embedded struct {
			t     reflect.Type
			index []int
		}
		var deeper []embedded
		for i := 0; i < st.NumField(); i++ {
			f := st.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			holds := contains(f.Type, map[reflect.Type]bool{})
			idx := append(append([]int(nil), index...), i)
			if f.Anonymous && name == "" {
				switch {
				case f.Type.Kind() == reflect.Struct:
					deeper = append(deeper, embedded{f.Type, idx})
					continue
				case holds || !f.IsExported():
					return planErr(t, "embedded pointer "+f.Name+" is not supported here: give it a name")
				}
			}
			if !f.IsExported() {
				if holds {
					return planErr(t, "unexported field "+f.Name+" holds a Sealed field")
				}
				continue
			}
			if name == "" {
				name = f.Name
			}
			if goNames[f.Name] || jsonNames[name] {
				continue // shadowed by a shallower field
			}
			goNames[f.Name], jsonNames[name] = true, true
			step := fieldStep{src: idx, dst: len(fields), name: name}
			wf := reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag, Anonymous: f.Anonymous && !holds}
			if holds {
				fp, err := b.build(f.Type)
				if err != nil {
					return err
				}
				step.p, wf.Type = fp, fp.wire
			}
			fields = append(fields, wf)
			steps = append(steps, step)
		}
		for _, e := range deeper {
			if err := collect(e.t, e.index); err != nil {
				return err
			}
		}
		return nil
	}
	if err := collect(t, nil); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, planErr(t, fmt.Sprint("cannot build its wire form: ", r))
		}
	}()
	wt := reflect.StructOf(fields)
	return &plan{
		wire: wt,
		enc: func(w *walk, dst, src reflect.Value, path string) error {
			for _, s := range steps {
				sv := src.FieldByIndex(s.src)
				if s.p == nil {
					dst.Field(s.dst).Set(sv)
					continue
				}
				if err := s.p.enc(w, dst.Field(s.dst), sv, join(path, s.name)); err != nil {
					return err
				}
			}
			return nil
		},
		dec: func(w *walk, dst, src reflect.Value, path string) error {
			for _, s := range steps {
				dv := dst.FieldByIndex(s.src)
				if s.p == nil {
					dv.Set(src.Field(s.dst))
					continue
				}
				if err := s.p.dec(w, dv, src.Field(s.dst), join(path, s.name)); err != nil {
					return err
				}
			}
			return nil
		},
	}, nil
}

// sealedPlan writes a Sealed as its envelope string.
var sealedPlan = &plan{
	wire: reflect.TypeFor[string](),
	enc: func(w *walk, dst, src reflect.Value, path string) error {
		s := src.Interface().(domain.Sealed)
		if s.Redacted {
			return domain.Errorf(domain.KindErased, "keyring.encode", "field %s is redacted and cannot be written again", path)
		}
		if s.Plain == "" && len(s.Subjects) == 0 {
			dst.SetString("")
			return nil
		}
		env, err := w.c.f.seal(w.ctx, s.Subjects, w.ad(path), s.Plain)
		if err != nil {
			return err
		}
		dst.SetString(env)
		return nil
	},
	dec: func(w *walk, dst, src reflect.Value, path string) error {
		env := src.String()
		if env == "" {
			dst.Set(reflect.ValueOf(domain.Sealed{}))
			return nil
		}
		s, err := w.c.f.open(w.ctx, env, w.ad(path))
		if err != nil {
			return err
		}
		dst.Set(reflect.ValueOf(s))
		return nil
	},
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
	w := &walk{ctx: ctx, c: c, eventID: eventID}
	s, err := c.f.open(ctx, envelope, w.ad(path))
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
