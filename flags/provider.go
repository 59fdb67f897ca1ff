package flags

import (
	"context"
	"sync"

	"github.com/open-feature/go-sdk/openfeature"
)

// Provider is an OpenFeature provider over an Evaluator:
//
//	openfeature.SetProviderAndWait(flags.NewProvider(ev, flags.ProviderOptions{}))
//	client := openfeature.NewClient("billing")
//	on, _ := client.BooleanValue(ctx, "new-invoices", false, evalCtx)
//
// It implements every type, reasons, variants, flag metadata and error
// codes; Init and Shutdown (starting and stopping the Sync of
// ProviderOptions.Source); events (PROVIDER_CONFIGURATION_CHANGED with
// the changed keys, PROVIDER_STALE and PROVIDER_ERROR while the last good
// definitions are still served, PROVIDER_READY on recovery); and Track,
// for experiment exposures.
type Provider struct {
	ev     *Evaluator
	opts   ProviderOptions
	events chan openfeature.Event

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// ProviderOptions configure a Provider.
type ProviderOptions struct {
	// Source, when set, is synced into the Evaluator from Init to
	// Shutdown; Init returns once the first definitions are served.
	Source Source
	// Sync configures the sync; its OnStatus is wrapped to emit events.
	Sync SyncOptions
	// Exposures, when set, receives Track calls for experiment analysis.
	Exposures *Exposures
}

var (
	_ openfeature.FeatureProvider          = (*Provider)(nil)
	_ openfeature.ContextAwareStateHandler = (*Provider)(nil)
	_ openfeature.EventHandler             = (*Provider)(nil)
	_ openfeature.Tracker                  = (*Provider)(nil)
)

// NewProvider returns a Provider over ev.
func NewProvider(ev *Evaluator, opts ProviderOptions) *Provider {
	p := &Provider{ev: ev, opts: opts, events: make(chan openfeature.Event, 64)}
	ev.OnChange(func(changed []string) {
		p.emit(openfeature.ProviderConfigChange, openfeature.ProviderEventDetails{
			Message: "flag definitions changed", FlagChanges: changed,
		})
	})
	return p
}

// Metadata implements openfeature.FeatureProvider.
func (p *Provider) Metadata() openfeature.Metadata {
	return openfeature.Metadata{Name: "saaskit-flags"}
}

// Hooks implements openfeature.FeatureProvider: the Exposures hook,
// when set.
func (p *Provider) Hooks() []openfeature.Hook {
	if p.opts.Exposures == nil {
		return nil
	}
	return []openfeature.Hook{p.opts.Exposures}
}

// EventChannel implements openfeature.EventHandler.
func (p *Provider) EventChannel() <-chan openfeature.Event { return p.events }

// emit sends an event without blocking evaluations: if nobody drains
// the channel, events are dropped rather than stalling an update.
func (p *Provider) emit(t openfeature.EventType, d openfeature.ProviderEventDetails) {
	select {
	case p.events <- openfeature.Event{ProviderName: p.Metadata().Name, EventType: t, ProviderEventDetails: d}:
	default:
	}
}

// Init implements openfeature.StateHandler.
func (p *Provider) Init(evalCtx openfeature.EvaluationContext) error {
	return p.InitWithContext(context.Background(), evalCtx)
}

// InitWithContext starts syncing the Source, if any, and returns when
// the first definitions are served (from the source, or from the
// snapshot when the source is down), or with the error when neither is
// available or ctx ends first.
func (p *Provider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	if p.opts.Source == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return nil // already running
	}
	runCtx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	opts := p.opts.Sync
	userStatus := opts.OnStatus
	ready := false
	opts.OnStatus = func(st Status) {
		if userStatus != nil {
			userStatus(st)
		}
		switch {
		case !ready && (st.State == StateReady || st.State == StateStale):
			ready = true
			first <- nil
		case !ready && st.State == StateError:
			select {
			case first <- st.Err:
			default:
			}
		case st.State == StateReady:
			p.emit(openfeature.ProviderReady, openfeature.ProviderEventDetails{Message: "flag source recovered"})
		case st.State == StateStale:
			p.emit(openfeature.ProviderStale, openfeature.ProviderEventDetails{Message: st.Err.Error()})
		case st.State == StateError:
			p.emit(openfeature.ProviderError, openfeature.ProviderEventDetails{Message: st.Err.Error(), ErrorCode: openfeature.GeneralCode})
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = Sync(runCtx, p.ev, p.opts.Source, opts)
	}()
	select {
	case err := <-first:
		if err != nil {
			cancel()
			<-done
			return err
		}
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
	p.cancel, p.done = cancel, done
	return nil
}

// Shutdown implements openfeature.StateHandler.
func (p *Provider) Shutdown() { _ = p.ShutdownWithContext(context.Background()) }

// ShutdownWithContext stops the sync and waits for it, or for ctx.
func (p *Provider) ShutdownWithContext(ctx context.Context) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.cancel, p.done = nil, nil
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Track implements openfeature.Tracker: it records an exposure for
// experiment analysis when ProviderOptions.Exposures is set.
func (p *Provider) Track(ctx context.Context, event string, evalCtx openfeature.EvaluationContext, details openfeature.TrackingEventDetails) {
	if p.opts.Exposures == nil {
		return
	}
	p.opts.Exposures.track(ctx, event, evalCtx.TargetingKey(), evalCtx.Attributes(), details.Value(), details.Attributes())
}

// BooleanEvaluation implements openfeature.FeatureProvider.
func (p *Provider) BooleanEvaluation(_ context.Context, flag string, def bool, flat openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	v, d := p.ev.Bool(flag, flat, def)
	return openfeature.BoolResolutionDetail{Value: v, ProviderResolutionDetail: resolution(d)}
}

// StringEvaluation implements openfeature.FeatureProvider.
func (p *Provider) StringEvaluation(_ context.Context, flag string, def string, flat openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	v, d := p.ev.String(flag, flat, def)
	return openfeature.StringResolutionDetail{Value: v, ProviderResolutionDetail: resolution(d)}
}

// FloatEvaluation implements openfeature.FeatureProvider.
func (p *Provider) FloatEvaluation(_ context.Context, flag string, def float64, flat openfeature.FlattenedContext) openfeature.FloatResolutionDetail {
	v, d := p.ev.Float(flag, flat, def)
	return openfeature.FloatResolutionDetail{Value: v, ProviderResolutionDetail: resolution(d)}
}

// IntEvaluation implements openfeature.FeatureProvider.
func (p *Provider) IntEvaluation(_ context.Context, flag string, def int64, flat openfeature.FlattenedContext) openfeature.IntResolutionDetail {
	v, d := p.ev.Int(flag, flat, def)
	return openfeature.IntResolutionDetail{Value: v, ProviderResolutionDetail: resolution(d)}
}

// ObjectEvaluation implements openfeature.FeatureProvider.
func (p *Provider) ObjectEvaluation(_ context.Context, flag string, def any, flat openfeature.FlattenedContext) openfeature.InterfaceResolutionDetail {
	v, d := p.ev.Object(flag, flat, def)
	return openfeature.InterfaceResolutionDetail{Value: v, ProviderResolutionDetail: resolution(d)}
}

// resolution converts a Detail to OpenFeature's form.
func resolution(d Detail) openfeature.ProviderResolutionDetail {
	r := openfeature.ProviderResolutionDetail{
		Reason:       openfeature.Reason(d.Reason.String()),
		Variant:      d.Variant,
		FlagMetadata: d.Metadata,
	}
	switch d.ErrorCode {
	case FlagNotFound:
		r.ResolutionError = openfeature.NewFlagNotFoundResolutionError(d.ErrorMessage)
	case TypeMismatch:
		r.ResolutionError = openfeature.NewTypeMismatchResolutionError(d.ErrorMessage)
	case ParseError:
		r.ResolutionError = openfeature.NewParseErrorResolutionError(d.ErrorMessage)
	case General:
		r.ResolutionError = openfeature.NewGeneralResolutionError(d.ErrorMessage)
	}
	return r
}
