package engine_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/projections/engine"
)

// Fuzz targets for the projections' decoding of what the log hands them (issue 24, "bad
// input"). Seeds: testdata/fuzz/<Name>/; `make fuzz` runs each for a bounded time.

// FuzzDecodeJSON: DecodeJSON accepts exactly what encoding/json accepts and decodes it to the
// same value, for a struct exercising the corners (embedded fields, ",string", raw messages,
// times, byte slices) and for an untyped value, so that swapping the decoder changed no read
// model.
func FuzzDecodeJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got decodeSample
		errWant, errGot := json.Unmarshal(data, &want), engine.DecodeJSON(data, &got)
		if (errWant == nil) != (errGot == nil) {
			t.Fatalf("%q: error %v, encoding/json's %v", data, errGot, errWant)
		}
		if errWant == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\ndecoded       %#v\nencoding/json %#v", data, got, want)
		}
		var wantAny, gotAny any
		errWant, errGot = json.Unmarshal(data, &wantAny), engine.DecodeJSON(data, &gotAny)
		if (errWant == nil) != (errGot == nil) {
			t.Fatalf("%q as any: error %v, encoding/json's %v", data, errGot, errWant)
		}
		if errWant == nil && !reflect.DeepEqual(gotAny, wantAny) {
			t.Fatalf("%q as any:\ndecoded       %#v\nencoding/json %#v", data, gotAny, wantAny)
		}
	})
}

// FuzzEventFromMessage reads arbitrary Watermill metadata as an event envelope: a field that
// does not parse is a KindInvalid error; an envelope that parses survives NewMessage and
// EventFromMessage unchanged.
func FuzzEventFromMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, id, typ, stream, revision, commit, prepare, created, meta string, payload []byte) {
		msg := message.NewMessage(id, payload)
		for k, v := range map[string]string{
			engine.MetaEventID: id, engine.MetaEventType: typ, engine.MetaStream: stream,
			engine.MetaRevision: revision, engine.MetaCommitPosition: commit,
			engine.MetaPreparePosition: prepare, engine.MetaCreated: created,
			engine.MetaEventMetadata: meta, engine.MetaBacklog: revision,
		} {
			msg.Metadata[k] = v
		}
		ev, err := engine.EventFromMessage(msg)
		if err != nil {
			if domain.KindOf(err) != domain.KindInvalid {
				t.Fatalf("EventFromMessage: %s error %v", domain.KindOf(err), err)
			}
			return
		}
		if ev.ID == uuid.Nil && id != uuid.Nil.String() {
			if _, perr := uuid.Parse(id); perr != nil {
				t.Fatalf("accepted the event id %q", id)
			}
		}
		if _, err := strconv.ParseUint(revision, 10, 64); err != nil {
			t.Fatalf("accepted the revision %q", revision)
		}
		back, err := engine.EventFromMessage(engine.NewMessage(ev, 0))
		if err != nil {
			t.Fatalf("an event read from a message does not survive NewMessage: %v", err)
		}
		if !back.Created.Equal(ev.Created) {
			t.Fatalf("created %v came back as %v", ev.Created, back.Created)
		}
		back.Created, ev.Created = time.Time{}, time.Time{}
		if len(ev.Data) == 0 && len(back.Data) == 0 {
			back.Data, ev.Data = nil, nil
		}
		if !reflect.DeepEqual(back, ev) {
			t.Fatalf("round trip:\n%#v\n%#v", ev, back)
		}
	})
}
