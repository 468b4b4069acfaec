package model

import (
	"context"
	"slices"
	"testing"
)

// OnSet hears changes made through Set, and not reloads: a node reloading
// after another node's change must not announce it again.
func TestOptionStoreOnSetHearsSetsOnly(t *testing.T) {
	s := openDialectStore(t, "sqlite")
	ctx := context.Background()
	o, err := NewOptionStore(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	o.OnSet(func(key string) { keys = append(keys, key) })
	if err := o.Set(ctx, "RetryTimes", "2"); err != nil {
		t.Fatal(err)
	}
	if err := o.Set(ctx, "RetryTimes", "x"); err == nil {
		t.Fatal("a value that does not parse was stored")
	}
	if err := o.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"RetryTimes"}) {
		t.Errorf("OnSet heard %v, want [RetryTimes] once", keys)
	}
}
