package search

import (
	"context"

	"github.com/arkiv/arkiv/domain"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/filters"
	"github.com/weaviate/weaviate-go-client/v4/weaviate/graphql"
)

// ChunkCounts returns how many chunks each of the given documents has in the space's
// tenant, in one aggregate query; documents with none are absent from the map. Retrieval
// uses it to never send a whole document to a model.
func (ix *Index) ChunkCounts(ctx context.Context, spaceID string, documentIDs []string) (map[string]int, error) {
	const op = "search.ChunkCounts"
	if err := checkTenant(op, spaceID); err != nil {
		return nil, err
	}
	out := map[string]int{}
	if len(documentIDs) == 0 {
		return out, nil
	}
	where := filters.Where().WithPath([]string{"documentId"}).WithOperator(filters.ContainsAny).WithValueText(documentIDs...)
	resp, err := ix.client.GraphQL().Aggregate().WithClassName(ix.class).WithTenant(spaceID).
		WithWhere(where).WithGroupBy("documentId").
		WithFields(graphql.Field{Name: "groupedBy", Fields: []graphql.Field{{Name: "value"}}},
			graphql.Field{Name: "meta", Fields: []graphql.Field{{Name: "count"}}}).Do(ctx)
	if err != nil {
		return nil, domain.Wrap(domain.KindUnavailable, op, err, "count document chunks")
	}
	if len(resp.Errors) > 0 {
		return nil, domain.Errorf(domain.KindInternal, op, "count failed: %s", resp.Errors[0].Message)
	}
	agg, _ := resp.Data["Aggregate"].(map[string]any)
	groups, _ := agg[ix.class].([]any)
	for _, g := range groups {
		m, _ := g.(map[string]any)
		by, _ := m["groupedBy"].(map[string]any)
		meta, _ := m["meta"].(map[string]any)
		id, _ := by["value"].(string)
		n, _ := meta["count"].(float64)
		if id != "" {
			out[id] = int(n)
		}
	}
	return out, nil
}
