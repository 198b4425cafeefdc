package ledger

import (
	"context"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// BenchmarkVerify measures the verifier's own cost per event (hashing, chain, tree) on a
// log like bench's: 3 streams, a checkpoint every 1,000 events.
func BenchmarkVerify(b *testing.B) {
	key := newKey(&testing.T{}, "arkiv.test/ledger")
	l := newTestLog(&testing.T{}, key)
	l.build(20000, 1000)
	keys := note.VerifierList(key.Verifier())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := NewVerifier(Options{Keys: keys})
		for _, e := range l.entries {
			if err := v.Add(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(l.entries)), "ns/event")
}
