package postgres_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/arkiv/arkiv/infra/pgtest"
	"github.com/arkiv/arkiv/infra/postgres"
	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestRegisterJSONCodecsDecodesJSONColumnsByEncodingJSONRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = postgres.RegisterJSONCodecs
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tm := conn.Conn().TypeMap()
	jsonCodec, _ := tmCodec(tm, pgtype.JSONOID).(*pgtype.JSONCodec)
	jsonbCodec, _ := tmCodec(tm, pgtype.JSONBOID).(*pgtype.JSONBCodec)
	if jsonCodec == nil || jsonbCodec == nil {
		t.Fatalf("json codec %T, jsonb codec %T", tmCodec(tm, pgtype.JSONOID), tmCodec(tm, pgtype.JSONBOID))
	}
	want := reflect.ValueOf(jsonv1.Unmarshal).Pointer()
	if reflect.ValueOf(jsonCodec.Unmarshal).Pointer() != want || reflect.ValueOf(jsonbCodec.Unmarshal).Pointer() != want {
		t.Fatal("json or jsonb columns decode with another function than go-json-experiment's v1 Unmarshal")
	}
	type ref struct {
		EventID  string `json:"eventId"`
		Envelope string `json:"envelope"`
	}
	var got ref
	var plain map[string]any
	// encoding/json's rules: names match case-insensitively.
	if err := conn.QueryRow(ctx, `SELECT '{"EVENTID":"e1","Envelope":"b"}'::jsonb, '{"n":1.5,"l":[true,null]}'::json`).Scan(&got, &plain); err != nil {
		t.Fatal(err)
	}
	if got != (ref{EventID: "e1", Envelope: "b"}) || !reflect.DeepEqual(plain, map[string]any{"n": 1.5, "l": []any{true, nil}}) {
		t.Fatalf("decoded %+v and %v", got, plain)
	}
	// Encoding still works (parameters are marshalled).
	var back string
	if err := conn.QueryRow(ctx, `SELECT ($1::jsonb)->>'eventId'`, ref{EventID: "e2"}).Scan(&back); err != nil || back != "e2" {
		t.Fatalf("round trip: %q, %v", back, err)
	}
}

func tmCodec(tm *pgtype.Map, oid uint32) pgtype.Codec {
	typ, ok := tm.TypeForOID(oid)
	if !ok {
		return nil
	}
	return typ.Codec
}
