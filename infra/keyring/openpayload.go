package keyring

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/arkiv/arkiv/domain"
)

// OpenPayload returns an event's stored payload as JSON with every sealed field opened,
// whatever the event's type: a string that is an envelope (EncryptedPrefix or PlainPrefix)
// is replaced by its plaintext, or by null when a subject of the field has been erased, and
// redacted lists the paths ("title", "requestParts.0.text") so replaced, sorted. Exports use
// it to write the events of the log in a readable form without knowing every event type.
// A tampered envelope is a KindInternal error, as in Decode.
func (c *EventCodec) OpenPayload(ctx context.Context, eventID string, data []byte) (json.RawMessage, []string, error) {
	const op = "keyring.open_payload"
	if !bytes.Contains(data, []byte(EncryptedPrefix)) && !bytes.Contains(data, []byte(PlainPrefix)) {
		return json.RawMessage(data), nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, domain.Wrap(domain.KindInternal, op, err, "bad event payload")
	}
	var redacted []string
	v, err := c.openValue(ctx, eventID, "", v, &redacted)
	if err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, nil, domain.Wrap(domain.KindInternal, op, err, "encode the opened payload")
	}
	sort.Strings(redacted)
	return out, redacted, nil
}

func (c *EventCodec) openValue(ctx context.Context, eventID, path string, v any, redacted *[]string) (any, error) {
	join := func(seg string) string {
		if path == "" {
			return seg
		}
		return path + "." + seg
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			o, err := c.openValue(ctx, eventID, join(k), e, redacted)
			if err != nil {
				return nil, err
			}
			x[k] = o
		}
		return x, nil
	case []any:
		for i, e := range x {
			o, err := c.openValue(ctx, eventID, join(strconv.Itoa(i)), e, redacted)
			if err != nil {
				return nil, err
			}
			x[i] = o
		}
		return x, nil
	case string:
		if !strings.HasPrefix(x, EncryptedPrefix) && !strings.HasPrefix(x, PlainPrefix) {
			return x, nil
		}
		plain, red, err := c.OpenField(ctx, eventID, path, x)
		if err != nil {
			return nil, err
		}
		if red {
			*redacted = append(*redacted, path)
			return nil, nil
		}
		return plain, nil
	}
	return v, nil
}
