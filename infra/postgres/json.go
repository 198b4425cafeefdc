package postgres

import (
	"context"
	"encoding/json"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// RegisterJSONCodecs makes conn decode json and jsonb columns by encoding/json's rules on the
// implementation behind Go's JSON v2 experiment (go-json-experiment's v1 package), about
// twice as fast with a fraction of the allocations; read models keep sealed fields as jsonb,
// so queries decode several per row. Encoding stays encoding/json's. Use it as a pool's
// AfterConnect.
func RegisterJSONCodecs(_ context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	m.RegisterType(&pgtype.Type{Name: "json", OID: pgtype.JSONOID, Codec: &pgtype.JSONCodec{Marshal: json.Marshal, Unmarshal: jsonv1.Unmarshal}})
	m.RegisterType(&pgtype.Type{Name: "jsonb", OID: pgtype.JSONBOID, Codec: &pgtype.JSONBCodec{Marshal: json.Marshal, Unmarshal: jsonv1.Unmarshal}})
	return nil
}
