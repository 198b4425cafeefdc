package esdbserver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// tombstoneRevision is the stream revision of a tombstone event, as in EventStoreDB
// (long.MaxValue): it sorts after every real event of the stream.
const tombstoneRevision = math.MaxInt64

// record is one stored event.
type record struct {
	pos      int64
	stream   string
	revision int64
	id       [16]byte
	typ      string
	ctype    string
	created  int64 // 100-ns ticks since the Unix epoch
	data     []byte
	meta     []byte
}

// system reports whether the event belongs to the system side of the store: a $-stream
// (including $$ metadata streams) or an event type starting with "$".
func (r *record) system() bool {
	return strings.HasPrefix(r.stream, "$") || strings.HasPrefix(r.typ, "$")
}

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// store holds the SQL of the event store's tables in one schema.
type store struct {
	pool   *pgxpool.Pool
	schema string // quoted identifier
	// allRead counts the events $all reads have fetched from Postgres, for tests.
	allRead atomic.Int64

	qReadStreamFwd string
	qReadStreamBwd string
	qReadAllFwd    string
	qReadAllBwd    string
	qStreamInfo    string
	qLoadStates    string
	qIDsAt         string
	qLastMeta      string
	qHead          string
	qWrite         string
}

func newStore(pool *pgxpool.Pool, schema string) (*store, error) {
	if !identRE.MatchString(schema) {
		return nil, fmt.Errorf("schema %q is not a plain lower-case SQL identifier", schema)
	}
	q := `"` + schema + `"`
	cols := `pos, stream, revision, event_id, event_type, content_type, created, data, metadata`
	return &store{
		pool:   pool,
		schema: q,
		qReadStreamFwd: `SELECT ` + cols + ` FROM ` + q + `.events
			WHERE stream = $1 AND revision >= $2 AND revision <= $3 AND created >= $4 AND pos >= $5 AND pos <= $6
			ORDER BY revision LIMIT $7`,
		qReadStreamBwd: `SELECT ` + cols + ` FROM ` + q + `.events
			WHERE stream = $1 AND revision >= $2 AND revision <= $3 AND created >= $4 AND pos >= $5 AND pos <= $6
			ORDER BY revision DESC LIMIT $7`,
		qReadAllFwd: `SELECT ` + cols + ` FROM ` + q + `.events
			WHERE pos >= $1 AND pos <= $2 ORDER BY pos LIMIT $3`,
		qReadAllBwd: `SELECT ` + cols + ` FROM ` + q + `.events
			WHERE pos >= $1 AND pos <= $2 ORDER BY pos DESC LIMIT $3`,
		qStreamInfo: `SELECT st.last_revision, st.deleted, st.tombstoned, m.data
			FROM (SELECT 1) one
			LEFT JOIN ` + q + `.streams st ON st.name = $1
			LEFT JOIN LATERAL (SELECT data FROM ` + q + `.events WHERE stream = $2
				ORDER BY revision DESC LIMIT 1) m ON true`,
		qLoadStates: `SELECT s.name, s.last_revision, s.deleted, s.tombstoned,
			ARRAY(SELECT e.event_id FROM ` + q + `.events e
				WHERE e.stream = s.name AND e.revision <= s.last_revision
				ORDER BY e.revision DESC LIMIT ` + fmt.Sprint(recentIDs) + `),
			ARRAY(SELECT e.pos FROM ` + q + `.events e
				WHERE e.stream = s.name AND e.revision <= s.last_revision
				ORDER BY e.revision DESC LIMIT ` + fmt.Sprint(recentIDs) + `)
			FROM ` + q + `.streams s WHERE s.name = ANY($1)`,
		qIDsAt: `SELECT pos, event_id FROM ` + q + `.events
			WHERE stream = $1 AND revision >= $2 AND revision <= $3 ORDER BY revision`,
		qLastMeta: `SELECT data FROM ` + q + `.events WHERE stream = $1 ORDER BY revision DESC LIMIT 1`,
		qHead:     `SELECT coalesce(max(pos), 0) FROM ` + q + `.events`,
		qWrite: `WITH ins AS (
			INSERT INTO ` + q + `.events (` + cols + `)
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[], $5::text[],
				$6::text[], $7::bigint[], $8::bytea[], $9::bytea[]))
			INSERT INTO ` + q + `.streams (name, last_revision, deleted, tombstoned)
			SELECT * FROM unnest($10::text[], $11::bigint[], $12::bool[], $13::bool[])
			ON CONFLICT (name) DO UPDATE SET last_revision = excluded.last_revision,
				deleted = excluded.deleted, tombstoned = excluded.tombstoned`,
	}, nil
}

// head returns the highest committed position (0 for an empty store).
func (s *store) head(ctx context.Context) (int64, error) {
	var h int64
	err := s.pool.QueryRow(ctx, s.qHead).Scan(&h)
	return h, err
}

// scanRecords reads event rows. Records whose columns come back in binary format (pgx's
// choice for bigint, uuid and bytea) are decoded from the raw values so a page costs few
// allocations: records sit in one slice, data and metadata in shared byte chunks, and
// event and content types (few distinct values) are interned for the page.
func scanRecords(rows pgx.Rows, out []*record) ([]*record, error) {
	defer rows.Close()
	if !rawDecodable(rows.FieldDescriptions()) {
		return scanRecordsTyped(rows, out)
	}
	slab := make([]record, 0, max(cap(out), 16))
	var chunk []byte
	names := map[string]string{}
	intern := func(b []byte) string {
		if s, ok := names[string(b)]; ok {
			return s
		}
		s := string(b)
		if len(names) < 256 {
			names[s] = s
		}
		return s
	}
	own := func(b []byte) []byte {
		if len(b) > recordChunk/4 {
			return append([]byte(nil), b...)
		}
		if len(chunk)+len(b) > cap(chunk) {
			chunk = make([]byte, 0, recordChunk)
		}
		n := len(chunk)
		chunk = append(chunk, b...)
		return chunk[n:len(chunk):len(chunk)]
	}
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 9 || len(v[0]) != 8 || len(v[2]) != 8 || len(v[3]) != 16 || len(v[6]) != 8 ||
			v[1] == nil || v[4] == nil || v[5] == nil || v[7] == nil || v[8] == nil {
			return out, fmt.Errorf("event row: unexpected column encoding")
		}
		if len(slab) == cap(slab) {
			slab = make([]record, 0, cap(slab))
		}
		slab = append(slab, record{
			pos:      int64(binary.BigEndian.Uint64(v[0])),
			stream:   string(v[1]),
			revision: int64(binary.BigEndian.Uint64(v[2])),
			id:       [16]byte(v[3]),
			typ:      intern(v[4]),
			ctype:    intern(v[5]),
			created:  int64(binary.BigEndian.Uint64(v[6])),
			data:     own(v[7]),
			meta:     own(v[8]),
		})
		out = append(out, &slab[len(slab)-1])
	}
	return out, rows.Err()
}

// recordChunk is the size of the byte chunks that hold a page's data and metadata.
const recordChunk = 64 << 10

// rawDecodable reports whether the event columns (see cols in newStore) arrive in the
// binary format scanRecords decodes by hand; text and bytea read the same either way.
func rawDecodable(fds []pgconn.FieldDescription) bool {
	if len(fds) != 9 {
		return false
	}
	for _, i := range []int{0, 2, 3, 6, 7, 8} {
		if fds[i].Format != pgx.BinaryFormatCode {
			return false
		}
	}
	return true
}

// scanRecordsTyped reads event rows with pgx's typed scanning.
func scanRecordsTyped(rows pgx.Rows, out []*record) ([]*record, error) {
	for rows.Next() {
		r := &record{}
		var id pgtype.UUID
		if err := rows.Scan(&r.pos, &r.stream, &r.revision, &id, &r.typ, &r.ctype, &r.created, &r.data, &r.meta); err != nil {
			return out, err
		}
		r.id = id.Bytes
		out = append(out, r)
	}
	return out, rows.Err()
}

// streamRange selects events of one stream.
type streamRange struct {
	lo, hi         int64 // revisions, inclusive
	minCreated     int64 // ticks
	minPos, maxPos int64 // positions, inclusive
}

// readStream returns up to limit events of stream in range r, in the given direction.
func (s *store) readStream(ctx context.Context, stream string, r streamRange, backwards bool, limit int) ([]*record, error) {
	q := s.qReadStreamFwd
	if backwards {
		q = s.qReadStreamBwd
	}
	rows, err := s.pool.Query(ctx, q, stream, r.lo, r.hi, r.minCreated, r.minPos, r.maxPos, limit)
	if err != nil {
		return nil, err
	}
	return scanRecords(rows, make([]*record, 0, min(limit, 1024)))
}

// readAll returns up to limit events with positions in [lo, hi].
func (s *store) readAll(ctx context.Context, lo, hi int64, backwards bool, limit int) ([]*record, error) {
	q := s.qReadAllFwd
	if backwards {
		q = s.qReadAllBwd
	}
	rows, err := s.pool.Query(ctx, q, lo, hi, limit)
	if err != nil {
		return nil, err
	}
	page, err := scanRecords(rows, make([]*record, 0, min(limit, 1024)))
	s.allRead.Add(int64(len(page)))
	return page, err
}

// streamInfo is what a reader needs to know about a stream.
type streamInfo struct {
	exists     bool
	last       int64
	deleted    bool
	tombstoned bool
	meta       streamMeta
}

// info loads a stream's state and its current metadata (from its $$ stream).
func (s *store) info(ctx context.Context, stream string) (streamInfo, error) {
	var last *int64
	var deleted, tomb *bool
	var meta []byte
	if err := s.pool.QueryRow(ctx, s.qStreamInfo, stream, metaStreamOf(stream)).Scan(&last, &deleted, &tomb, &meta); err != nil {
		return streamInfo{}, err
	}
	si := streamInfo{last: -1}
	if last != nil {
		si.last = *last
		si.exists = *last >= 0
		si.deleted = *deleted
		si.tombstoned = *tomb
	}
	if meta != nil {
		si.meta = parseMeta(meta)
	}
	return si, nil
}

// lastMeta returns the raw JSON of the latest event of a metadata stream, or nil.
func (s *store) lastMeta(ctx context.Context, metaStream string) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, s.qLastMeta, metaStream).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return data, err
}

// metaStreamOf returns the $$ metadata stream of a stream.
func metaStreamOf(stream string) string { return "$$" + stream }

// isMetaStream reports whether stream is a $$ metadata stream.
func isMetaStream(stream string) bool { return strings.HasPrefix(stream, "$$") }

// streamMeta is the part of a stream's metadata the server honours.
type streamMeta struct {
	maxCount *int64
	maxAge   *int64 // seconds
	tb       *int64
	acl      *acl
	raw      map[string]json.RawMessage
}

func parseMeta(data []byte) streamMeta {
	var m streamMeta
	if err := json.Unmarshal(data, &m.raw); err != nil {
		return streamMeta{}
	}
	num := func(key string) *int64 {
		v, ok := m.raw[key]
		if !ok {
			return nil
		}
		var f float64
		if json.Unmarshal(v, &f) != nil || f < 0 {
			return nil
		}
		// float64(math.MaxInt64) is 2⁶³, which int64() does not convert: saturate.
		n := int64(math.MaxInt64)
		if f < math.MaxInt64 {
			n = int64(f)
		}
		return &n
	}
	m.maxCount = num("$maxCount")
	m.maxAge = num("$maxAge")
	m.tb = num("$tb")
	if v, ok := m.raw["$acl"]; ok {
		m.acl = parseACL(v)
	}
	return m
}

// pageResult is one page read ahead, or the error that ended the reading.
type pageResult struct {
	page []*record
	err  error
}

// prefetch reads pages in a goroutine, one page ahead of the consumer, so the database
// read of the next page overlaps sending the current one. fetch gets the previous page
// (nil first) and returns the next and how many events it asked for; reading stops after a
// page shorter than that, an error, or stop.
func prefetch(ctx context.Context, fetch func(ctx context.Context, prev []*record) (page []*record, asked int, err error)) (<-chan pageResult, func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan pageResult, 1)
	go func() {
		defer close(ch)
		var prev []*record
		for {
			page, asked, err := fetch(ctx, prev)
			select {
			case ch <- pageResult{page: page, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(page) < asked {
				return
			}
			prev = page
		}
	}()
	stop := func() {
		cancel()
		for range ch {
		}
	}
	return ch, stop
}
