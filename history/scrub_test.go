package history

import (
	"reflect"
	"testing"
	"time"

	"github.com/arkiv/arkiv/app/apptest"
	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
)

// The Replayer's cache holds no plaintext of sealed fields: names, e-mail addresses and
// instructions are emptied as events are cached, so the cache never outlives an erasure.
func TestCacheHoldsNoSealedPlaintext(t *testing.T) {
	f := apptest.NewFixture(t)
	codec := keyring.NewPlainCodec()
	apptest.NewScript(f, codec).World()
	reg := domain.NewRegistry()
	if err := domain.RegisterEvents(reg); err != nil {
		t.Fatal(err)
	}
	r, err := NewReplayer(f.ES.Store, codec, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.At(f.Ctx, apptest.OrgA, time.Now()); err != nil {
		t.Fatal(err)
	}
	sealedType := reflect.TypeOf(domain.Sealed{})
	kinds := map[string]bool{}
	for _, facts := range r.facts {
		for _, fa := range facts {
			kinds[fa.event.EventName()] = true
			v := reflect.ValueOf(fa.event)
			for i := 0; i < v.NumField(); i++ {
				if v.Field(i).Type() == sealedType && !v.Field(i).IsZero() {
					t.Errorf("%s keeps its sealed field %s", fa.event.EventName(), v.Type().Field(i).Name)
				}
			}
		}
	}
	for _, e := range []domain.Event{domain.OrganizationCreated{}, domain.UserRegistered{}, domain.SpaceCreated{},
		domain.AssistantCreated{}, domain.AssistantUpdated{}} {
		if !kinds[e.EventName()] {
			t.Errorf("the scripted world has no %s in the cache", e.EventName())
		}
	}
}
