package keyring

import (
	"context"
	"time"

	"github.com/arkiv/arkiv/domain"
)

// DestroyAll destroys the keys of every subject in subjects now, like Destroy on each, but
// purges the key table once at the end instead of once per subject: an organisation's
// erasure or a day's retention sweep destroys many keys, and each purge rewrites the whole
// key table. Subjects already destroyed are skipped. It stops at the first subject that
// cannot be destroyed (an active one is KindConflict, an unknown one KindNotFound) after
// purging what it destroyed so far, and returns how many keys it destroyed.
func (k *Keyring) DestroyAll(ctx context.Context, subjects []domain.Subject) (int, error) {
	for _, s := range subjects {
		if err := s.Validate(); err != nil {
			return 0, err
		}
	}
	n := 0
	var first error
	for _, s := range subjects {
		done, err := k.destroyOne(ctx, s.String(), time.Time{})
		if done {
			n++
		}
		if err != nil {
			first = err
			break
		}
	}
	if err := k.purge(ctx); err != nil && first == nil {
		first = err
	}
	return n, first
}
