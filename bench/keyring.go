package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/keyring"
)

// keyringScenarios measures issue 4: the keyring's hot path, the codec's overhead on the
// append-and-read path, and the cost of shredding against the number of events a subject has.
func keyringScenarios() []Scenario {
	return []Scenario{
		{Name: "keyring/seal-open", Issue: 4, Run: benchSealOpen},
		{Name: "keyring/codec-overhead", Issue: 4, Run: benchCodecOverhead},
		{Name: "keyring/shred", Issue: 4, Run: benchShred},
	}
}

// benchKeyring opens a keyring on a fresh database with a throwaway KEK file.
func benchKeyring(ctx context.Context, env *Env) (*keyring.Keyring, *pgxpool.Pool, func(), error) {
	dsn, drop, err := env.NewDatabase(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	dir, err := os.MkdirTemp("", "arkiv-bench-kek-")
	if err != nil {
		drop()
		return nil, nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir); drop() }
	kek, err := keyring.LoadOrCreateKEKFile(filepath.Join(dir, "kek.json"))
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		cleanup()
		return nil, nil, nil, err
	}
	kr, err := keyring.Open(ctx, pool, kek, domain.SystemClock{})
	if err != nil {
		pool.Close()
		cleanup()
		return nil, nil, nil, err
	}
	return kr, pool, func() { kr.Close(); pool.Close(); cleanup() }, nil
}

func threeSubjects() []domain.Subject {
	return []domain.Subject{
		domain.UserSubject(uuid.NewString()),
		domain.ConversationSubject(uuid.NewString()),
		domain.RetentionBucket(uuid.NewString(), time.Now()),
	}
}

// benchSealOpen: Seal then Open of a 1 KiB field under 3 subjects, warm cache; median ns/op
// over rounds.
func benchSealOpen(ctx context.Context, env *Env) ([]Result, error) {
	kr, _, done, err := benchKeyring(ctx, env)
	if err != nil {
		return nil, err
	}
	defer done()
	subs := threeSubjects()
	plain := []byte(strings.Repeat("x", 1024))
	ad := []byte("event-id/message.text")
	if _, err := kr.Seal(ctx, subs, ad, plain); err != nil { // creates and caches the keys
		return nil, err
	}
	rounds, n := env.Size(15, 5), env.Size(20000, 2000)
	var perOp []float64
	for r := 0; r < rounds; r++ {
		start := time.Now()
		for i := 0; i < n; i++ {
			blob, err := kr.Seal(ctx, subs, ad, plain)
			if err != nil {
				return nil, err
			}
			if _, err := kr.Open(ctx, blob, ad); err != nil {
				return nil, err
			}
		}
		perOp = append(perOp, float64(time.Since(start).Nanoseconds())/float64(n))
	}
	med := Median(perOp)
	return []Result{{Metric: "seal+open 1 KiB, 3 subjects, warm cache (median)", Value: med, Unit: "ns/op",
		Target: "<= 5000", Met: Met(med <= 5000)}}, nil
}

// krEvent is a realistic chat event: a 1 KiB message under 3 subjects, a short title under
// one, an attachment name, and plain metadata.
type krEvent struct {
	MessageID      string          `json:"message_id"`
	ConversationID string          `json:"conversation_id"`
	AssistantID    string          `json:"assistant_id"`
	SentAt         time.Time       `json:"sent_at"`
	Role           string          `json:"role"`
	Model          string          `json:"model"`
	Tokens         int             `json:"tokens"`
	Text           domain.Sealed   `json:"text"`
	Title          domain.Sealed   `json:"title"`
	Sources        []krSource      `json:"sources"`
	Labels         map[string]bool `json:"labels"`
}

type krSource struct {
	DocumentID string        `json:"document_id"`
	Snippet    domain.Sealed `json:"snippet"`
	Score      float64       `json:"score"`
}

func newKREvent(subs []domain.Subject, doc domain.Subject, text string) krEvent {
	return krEvent{
		MessageID: uuid.NewString(), ConversationID: subs[1].ID, AssistantID: uuid.NewString(),
		SentAt: time.Now().UTC(), Role: "user", Model: "local-7b", Tokens: 312,
		Text:    domain.Seal(text, subs...),
		Title:   domain.Seal("Question about the parking permit", subs[1]),
		Sources: []krSource{{DocumentID: doc.ID, Snippet: domain.Seal(text[:200], doc, subs[0]), Score: 0.82}},
		Labels:  map[string]bool{"pii": true},
	}
}

// benchCodecOverhead: encode + append to a Postgres table + read + decode of realistic
// events, with the encrypting and the plaintext codec alternating in the same run; the
// median of the per-pair time ratios.
func benchCodecOverhead(ctx context.Context, env *Env) ([]Result, error) {
	kr, pool, done, err := benchKeyring(ctx, env)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_events (id text PRIMARY KEY, stream text NOT NULL, data jsonb NOT NULL)`); err != nil {
		return nil, err
	}
	codecs := []*keyring.EventCodec{keyring.NewPlainCodec(), keyring.NewCodec(kr)}
	text := strings.Repeat("Mein Antrag auf einen Anwohnerparkausweis ", 25)[:1024]
	users := make([][]domain.Subject, 20)
	for i := range users {
		users[i] = threeSubjects()
	}
	doc := domain.DocumentSubject(uuid.NewString())
	rounds, batch := env.Size(21, 5), env.Size(200, 50)
	// one appends a batch of events one by one (as command handlers do) and reads them back.
	one := func(c *keyring.EventCodec) (time.Duration, error) {
		stream := uuid.NewString()
		start := time.Now()
		for i := 0; i < batch; i++ {
			id := uuid.NewString()
			data, err := c.Encode(ctx, id, newKREvent(users[i%len(users)], doc, text))
			if err != nil {
				return 0, err
			}
			if _, err := pool.Exec(ctx, `INSERT INTO bench_events (id, stream, data) VALUES ($1, $2, $3)`, id, stream, data); err != nil {
				return 0, err
			}
		}
		rows, err := pool.Query(ctx, `SELECT id, data FROM bench_events WHERE stream = $1`, stream)
		if err != nil {
			return 0, err
		}
		n := 0
		for rows.Next() {
			var id string
			var data []byte
			if err := rows.Scan(&id, &data); err != nil {
				rows.Close()
				return 0, err
			}
			var ev krEvent
			if err := c.Decode(ctx, id, data, &ev); err != nil {
				rows.Close()
				return 0, err
			}
			if ev.Text.Plain != text {
				rows.Close()
				return 0, fmt.Errorf("decoded text differs")
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return 0, err
		}
		if n != batch {
			return 0, fmt.Errorf("read %d events, appended %d", n, batch)
		}
		return time.Since(start), nil
	}
	for _, c := range codecs { // warm up both
		if _, err := one(c); err != nil {
			return nil, err
		}
	}
	var ratios, plainUS, encUS []float64
	for r := 0; r < rounds; r++ {
		var d [2]time.Duration
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			if d[i], err = one(codecs[i]); err != nil {
				return nil, err
			}
		}
		ratios = append(ratios, float64(d[1])/float64(d[0]))
		plainUS = append(plainUS, float64(d[0].Microseconds())/float64(batch))
		encUS = append(encUS, float64(d[1].Microseconds())/float64(batch))
	}
	ratio := Median(ratios)
	return []Result{
		{Metric: "append+read, plaintext codec (median per event)", Value: Median(plainUS), Unit: "µs"},
		{Metric: "append+read, encrypting codec (median per event)", Value: Median(encUS), Unit: "µs"},
		{Metric: "encrypting / plaintext codec, append+read (median ratio)", Value: ratio, Unit: "x",
			Target: "<= 1.15", Met: Met(ratio <= 1.15)},
	}, nil
}

// benchShred: shredding a subject referenced by 1,000 and by 100,000 stored events. Every
// event's fields really are sealed under five subjects and stored in a table; each of the
// five is then shredded and timed, and the stored events are checked to be unreadable.
func benchShred(ctx context.Context, env *Env) ([]Result, error) {
	kr, pool, done, err := benchKeyring(ctx, env)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_events (id text PRIMARY KEY, size int NOT NULL, data jsonb NOT NULL)`); err != nil {
		return nil, err
	}
	codec := keyring.NewCodec(kr)
	text := strings.Repeat("personal text ", 20)
	sizes := []int{env.Size(1000, 100), env.Size(100000, 2000)}
	var results []Result
	var medians []float64
	for _, size := range sizes {
		org := uuid.NewString()
		subs := []domain.Subject{
			domain.UserSubject(uuid.NewString()), domain.ConversationSubject(uuid.NewString()),
			domain.SpaceSubject(uuid.NewString()), domain.OrganizationSubject(org),
			domain.RetentionBucket(uuid.NewString(), time.Now()),
		}
		type row struct {
			id   string
			data []byte
		}
		rows := make([][]any, 0, size)
		var sample row
		for i := 0; i < size; i++ {
			id := uuid.NewString()
			ev := newKREvent(subs[:3], subs[3], text)
			ev.Text = domain.Seal(text, subs...)
			data, err := codec.Encode(ctx, id, ev)
			if err != nil {
				return nil, err
			}
			rows = append(rows, []any{id, size, data})
			if i == 0 {
				sample = row{id, data}
			}
		}
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_events"}, []string{"id", "size", "data"}, pgx.CopyFromRows(rows)); err != nil {
			return nil, err
		}
		var stored int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM bench_events WHERE size = $1`, size).Scan(&stored); err != nil || stored != size {
			return nil, fmt.Errorf("stored %d events, want %d (%v)", stored, size, err)
		}
		var ms []float64
		for _, s := range subs {
			start := time.Now()
			if err := kr.StartShredding(ctx, s, "benchmark", "bench", keyring.DefaultGrace); err != nil {
				return nil, err
			}
			ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		}
		var ev krEvent
		if err := codec.Decode(ctx, sample.id, sample.data, &ev); err != nil || !ev.Text.Redacted {
			return nil, fmt.Errorf("a stored event is still readable after shredding (%v)", err)
		}
		med := Median(ms)
		medians = append(medians, med)
		results = append(results, Result{Metric: fmt.Sprintf("StartShredding, subject in %d events (median of 5)", size),
			Value: med, Unit: "ms", Target: "<= 10", Met: Met(med <= 10)})
	}
	ratio := medians[1] / medians[0]
	results = append(results, Result{Metric: fmt.Sprintf("shredding cost ratio, %d vs %d events", sizes[1], sizes[0]),
		Value: ratio, Unit: "x", Target: "~1 (<= 2)", Met: Met(ratio <= 2)})
	return results, nil
}
