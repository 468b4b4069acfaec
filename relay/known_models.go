package relay

import "sort"

// KnownModels is every model this gateway knows, for GET
// /api/channel/models: those with a price (one-api's default ratios and the
// ModelRatio option) and those any channel lists, whatever its status. The
// owner is named after the type of the lowest-numbered channel listing the
// model, and is "one-api" for a model only priced.
func (r *Relay) KnownModels() []Model {
	t := r.table.Load()
	owners := make(map[string]string)
	ids := make([]int, 0, len(t.channels))
	for id := range t.channels {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		ch := t.channels[id]
		for _, name := range ch.Models {
			if _, ok := owners[name]; !ok {
				owners[name] = ownerOf(ch.Type)
			}
		}
	}
	for _, name := range r.prices.Load().Models() {
		if _, ok := owners[name]; !ok {
			owners[name] = "one-api"
		}
	}
	out := make([]Model, 0, len(owners))
	for name, owner := range owners {
		out = append(out, Model{ID: name, Object: "model", Created: modelCreated, OwnedBy: owner})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
