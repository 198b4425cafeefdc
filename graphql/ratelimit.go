package graphql

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/arkiv/arkiv/domain"
	"github.com/arkiv/arkiv/infra/auth"
)

// Limit is a token bucket: Rate operations a second refill it, Burst may run at once. A zero
// Rate is no limit.
type Limit struct {
	Rate  rate.Limit
	Burst int
}

// RateLimits bound the expensive operations (RateLimitedFields names them by class: login,
// search, sendMessage, export) per credential (an API key, or a user's session) and per
// client address. A class missing from a map is not limited on that dimension.
type RateLimits struct {
	PerKey, PerAddress map[string]Limit
}

// RateLimitedFields maps the root fields that are rate limited to their class.
var RateLimitedFields = map[string]map[string]string{
	"Query":    {"search": "search"},
	"Mutation": {"login": "login", "sendMessage": "sendMessage", "exportAuditLog": "export", "exportEvidence": "export"},
}

// RateLimitClasses are the classes of RateLimitedFields.
var RateLimitClasses = []string{"login", "search", "sendMessage", "export"}

// DefaultRateLimitsPerKey and DefaultRateLimitsPerAddress are `arkiv serve`'s defaults
// (ARKIV_RATE_LIMITS_PER_KEY, ARKIV_RATE_LIMITS_PER_ADDRESS): generous for people and
// integrations, tight enough to stop one client from monopolising models, the index or
// the log.
const (
	DefaultRateLimitsPerKey     = "search=120/m:30,sendMessage=30/m:10,export=10/m:5"
	DefaultRateLimitsPerAddress = "login=30/m:10,search=600/m:100,sendMessage=120/m:30,export=30/m:10"
)

// ParseRateLimits parses "class=N/unit[:burst],…" (unit s, m or h; burst defaults to N, at
// least 1); "class=off" or an empty string leaves a class unlimited.
func ParseRateLimits(s string) (map[string]Limit, error) {
	out := map[string]Limit{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		class, spec, ok := strings.Cut(part, "=")
		class = strings.TrimSpace(class)
		known := false
		for _, c := range RateLimitClasses {
			known = known || c == class
		}
		if !ok || !known {
			return nil, fmt.Errorf("rate limit %q: want class=N/unit[:burst] with class one of %s", part, strings.Join(RateLimitClasses, ", "))
		}
		if spec == "off" {
			delete(out, class)
			continue
		}
		spec, burstS, hasBurst := strings.Cut(spec, ":")
		nS, unit, ok := strings.Cut(spec, "/")
		n, err := strconv.Atoi(nS)
		per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
		if !ok || err != nil || n <= 0 || per == 0 {
			return nil, fmt.Errorf("rate limit %q: want N/s, N/m or N/h with N > 0", part)
		}
		burst := n
		if hasBurst {
			if burst, err = strconv.Atoi(burstS); err != nil || burst <= 0 {
				return nil, fmt.Errorf("rate limit %q: the burst must be a positive integer", part)
			}
		}
		out[class] = Limit{Rate: rate.Limit(float64(n) / per.Seconds()), Burst: burst}
	}
	return out, nil
}

// limiters holds one token bucket per class and client (credential or address).
type limiters struct {
	limits  map[string]Limit
	buckets map[string]*rate.Limiter
}

// maxBuckets bounds the buckets kept; past it, full (idle) buckets are dropped, which is
// the same as keeping them.
const maxBuckets = 50_000

func newLimiters(limits map[string]Limit) *limiters {
	return &limiters{limits: limits, buckets: map[string]*rate.Limiter{}}
}

// bucket returns the bucket of class for client, nil when the class is unlimited.
func (l *limiters) bucket(class, client string, now time.Time) *rate.Limiter {
	lim, ok := l.limits[class]
	if !ok || lim.Rate <= 0 || client == "" {
		return nil
	}
	key := class + "\x00" + client
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for k, other := range l.buckets {
				if other.TokensAt(now) >= float64(other.Burst()) {
					delete(l.buckets, k)
				}
			}
		}
		b = rate.NewLimiter(lim.Rate, lim.Burst)
		l.buckets[key] = b
	}
	return b
}

// rateLimit refuses, as RATE_LIMITED with extensions.retryAfter (seconds), an operation
// whose rate-limited root fields exceed the caller's or the address's bucket; the HTTP
// transport answers it 429 with Retry-After. Each limited field of an operation (aliases
// counted) takes a token from both buckets; a refused operation takes none.
type rateLimit struct {
	mu                 sync.Mutex
	perKey, perAddress *limiters
	now                func() time.Time
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*rateLimit)(nil)

func newRateLimit(l RateLimits, now func() time.Time) *rateLimit {
	if len(l.PerKey) == 0 && len(l.PerAddress) == 0 {
		return nil
	}
	return &rateLimit{perKey: newLimiters(l.PerKey), perAddress: newLimiters(l.PerAddress), now: now}
}

func (*rateLimit) ExtensionName() string                   { return "RateLimit" }
func (*rateLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (rl *rateLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	typ := "Query"
	if oc.Operation.Operation == ast.Mutation {
		typ = "Mutation"
	}
	counts := map[string]int{}
	for _, c := range limitedClasses(oc.Operation.SelectionSet, typ, nil) {
		counts[c]++
	}
	if len(counts) == 0 {
		return nil
	}
	key := ""
	if p, ok := auth.FromContext(ctx); ok {
		key = p.KeyID
		if key == "" {
			key = "user:" + p.UserID
		}
	}
	addr := requestInfoFrom(ctx).remoteIP
	rl.mu.Lock()
	defer rl.mu.Unlock()
	now := rl.now()
	type take struct {
		b *rate.Limiter
		n int
	}
	var takes []take
	var wait time.Duration
	for class, n := range counts {
		for _, b := range []*rate.Limiter{rl.perKey.bucket(class, key, now), rl.perAddress.bucket(class, addr, now)} {
			if b == nil {
				continue
			}
			takes = append(takes, take{b, n})
			if missing := float64(min(n, b.Burst())) - b.TokensAt(now); missing > 0 {
				wait = max(wait, time.Duration(missing/float64(b.Limit())*float64(time.Second)))
			}
			if n > b.Burst() {
				// Never allowed at once: wait for a full bucket, then send fewer.
				wait = max(wait, time.Duration(float64(b.Burst())/float64(b.Limit())*float64(time.Second)))
			}
		}
	}
	if wait == 0 {
		for _, t := range takes {
			t.b.AllowN(now, t.n)
		}
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	e := gqlerror.Errorf("too many requests: try again in %d s", secs)
	e.Extensions = map[string]any{"code": domain.KindRateLimited.String(), "retryAfter": secs}
	return e
}

// limitedClasses appends the class of every rate-limited root field of set (fragments
// included) to out, once per field occurrence.
func limitedClasses(set ast.SelectionSet, typ string, out []string) []string {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if c, ok := RateLimitedFields[typ][s.Name]; ok {
				out = append(out, c)
			}
		case *ast.InlineFragment:
			out = limitedClasses(s.SelectionSet, typ, out)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				out = limitedClasses(s.Definition.SelectionSet, typ, out)
			}
		}
	}
	return out
}

// retryAfter returns the retryAfter of the first RATE_LIMITED error of errs, 0 if none.
func retryAfter(errs gqlerror.List) int {
	for _, e := range errs {
		if e.Extensions["code"] == domain.KindRateLimited.String() {
			if s, ok := e.Extensions["retryAfter"].(int); ok {
				return max(s, 1)
			}
			return 1
		}
	}
	return 0
}
