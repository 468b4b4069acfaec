package controller_test

import (
	"context"
	"net/http"

	"one-api/controller"
	"one-api/ledger"
	"one-api/model"
	"one-api/relay"
)

// withUpstream gives the environment a relay sending through client, and
// the API the channel routes that need it.
func withUpstream(client *http.Client) func(*envOptions) {
	return func(o *envOptions) { o.upstream = client }
}

// withRelay builds the relay and the channel probe on the environment's
// store; channel changes rebuild the relay's routing table too.
func (e *testEnv) withRelay(api *controller.API, client *http.Client) {
	e.t.Helper()
	ctx := context.Background()
	r, err := relay.New(ctx, relay.Config{Tokens: e.store, Ledger: ledger.NewDirect(e.store.Gorm()), Logs: model.DiscardLogSink{},
		Options: e.options, Store: e.store, Client: client, UnknownModelRatio: 30})
	if err != nil {
		e.t.Fatal(err)
	}
	e.probe = controller.NewChannelProbe(e.store, r)
	e.t.Cleanup(func() { e.probe.Close(context.Background()) })
	api.Channels = e.probe
	api.ChannelsChanged = func(ctx context.Context) error { e.rebuilds.Add(1); return r.Reload(ctx) }
}
