package flags_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/saaskit/saaskit/flags"
)

// providerTestbed is flagd-testbed's provider-level suite (Apache-2.0,
// see its README).
const providerTestbed = "testdata/flagd-testbed/provider"

// providerRunTags select the scenarios that apply to an in-process
// provider.
var providerRunTags = []string{"@in-process", "@file"}

// providerExcludedTags are scenarios left out, with why.
var providerExcludedTags = map[string]string{
	"@fractional-v1": "flagd's legacy float bucketing; the package implements v2",
	"@fractional-v3": "a later bucketing algorithm that hashes any JSON value; the package " +
		"implements v2, which buckets the same keys differently (the v2 examples run)",
	"@deprecated": "the superseded no-default-variant expectation (FLAG_NOT_FOUND); " +
		"@no-default-variant, which replaces it, runs",
	"@grace": "connection handling: the testbed stops the flagd daemon and expects the " +
		"provider's grace period to turn STALE into ERROR; our Provider has no connection, " +
		"and reports a Source outage as STALE while it serves the last good definitions",
}

// providerExcludedScenarios are scenarios left out by name, with why.
var providerExcludedScenarios = map[string]string{
	"Provider events chain ready -> error -> ready": "connection handling: the testbed stops " +
		"the flagd daemon and expects ERROR; our Provider has no connection, and reports a " +
		"Source outage as STALE while it serves the last good definitions",
}

// providerTagFilter is godog's filter: any run tag, and none of the
// excluded ones.
func providerTagFilter() string {
	var not []string
	for _, tag := range slices.Sorted(maps.Keys(providerExcludedTags)) {
		not = append(not, "~"+tag)
	}
	var alternatives []string
	for _, tag := range providerRunTags {
		alternatives = append(alternatives, strings.Join(append([]string{tag}, not...), " && "))
	}
	return strings.Join(alternatives, ",")
}

// TestFlagdProviderSuite runs flagd-testbed's provider-level scenarios
// for in-process providers through an OpenFeature client against
// Provider, serving the definitions in provider/flags.
func TestFlagdProviderSuite(t *testing.T) {
	suite := godog.TestSuite{
		Name:                "flagd-provider",
		ScenarioInitializer: func(sc *godog.ScenarioContext) { (&providerScenario{}).register(sc) },
		Options: &godog.Options{
			Format:   "progress",
			Paths:    []string{providerTestbed + "/gherkin"},
			Tags:     providerTagFilter(),
			TestingT: t,
			Strict:   true,
		},
	}
	if suite.Run() != 0 {
		t.Fatal("flagd provider scenarios failed")
	}
}

// brokenOnPurpose are the flags of the testbed that cannot compile:
// flagd serves them with PARSE_ERROR, and so do we.
var brokenOnPurpose = []string{"error-targeting-flag", "ref-to-nonexistent-evaluator-flag"}

// loadTestbedFlags compiles the definitions a selector names. With no
// selector, or flagd's "flags/allFlags.json", they are every file of
// provider/flags but the selector-*.json ones, which the testbed serves
// only when selected, as "rawflags/<file>" (selector-flags.json
// redefines cross-flagset-flag, which disabled.feature tells apart).
func loadTestbedFlags(selector string) (*flags.Set, error) {
	dir := filepath.Join(providerTestbed, "flags")
	var files []string
	switch {
	case selector == "" || selector == "flags/allFlags.json":
		all, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, err
		}
		for _, f := range all {
			if !strings.HasPrefix(filepath.Base(f), "selector-") {
				files = append(files, f)
			}
		}
	case strings.HasPrefix(selector, "rawflags/"):
		files = []string{filepath.Join(dir, strings.TrimPrefix(selector, "rawflags/"))}
	default:
		return nil, fmt.Errorf("selector %q names no testbed source", selector)
	}
	merged := flags.Definitions{Flags: map[string]flags.Flag{}, Evaluators: map[string]any{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d flags.Definitions
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for key, flag := range d.Flags {
			if _, dup := merged.Flags[key]; dup {
				return nil, fmt.Errorf("%s: flag %q is defined twice", f, key)
			}
			merged.Flags[key] = flag
		}
		maps.Copy(merged.Evaluators, d.Evaluators)
		if d.Metadata != nil {
			if merged.Metadata != nil {
				return nil, fmt.Errorf("%s: a second set of flag-set metadata", f)
			}
			merged.Metadata = d.Metadata
		}
	}
	return compileTestbed(merged)
}

// compileTestbed compiles testbed definitions, which may hold only the
// flags that are broken on purpose.
func compileTestbed(d flags.Definitions) (*flags.Set, error) {
	set, err := flags.Compile(d)
	if err == nil || set == nil {
		return set, err
	}
	for _, e := range unjoin(err) {
		var de *flags.DefinitionError
		switch {
		case e == flags.ErrInvalidDefinitions: // the sentinel that wraps the list
		case !errors.As(e, &de):
			return nil, e
		case !slices.Contains(brokenOnPurpose, de.Flag):
			return nil, fmt.Errorf("a testbed flag does not compile: %w", e)
		}
	}
	return set, nil
}

// providerScenario is the state of one scenario.
type providerScenario struct {
	selector string
	ev       *flags.Evaluator
	api      *openfeature.EvaluationAPI
	client   *openfeature.Client

	typ, key, fallback string
	targetingKey       string
	attrs              map[string]any

	value   any
	details openfeature.EvaluationDetails

	events      map[string]chan openfeature.EventDetails // by the steps' name for the type
	changeEvent openfeature.EventDetails                 // the last change event awaited
}

// eventTypes names OpenFeature's provider events as the steps do.
var eventTypes = map[string]openfeature.EventType{
	"ready":  openfeature.ProviderReady,
	"error":  openfeature.ProviderError,
	"stale":  openfeature.ProviderStale,
	"change": openfeature.ProviderConfigChange,
}

func (s *providerScenario) register(sc *godog.ScenarioContext) {
	sc.Before(func(ctx context.Context, scn *godog.Scenario) (context.Context, error) {
		if why, excluded := providerExcludedScenarios[scn.Name]; excluded {
			godog.Logf(ctx, "skipped: %s", why)
			return ctx, godog.ErrSkip
		}
		s.attrs = map[string]any{}
		return ctx, nil
	})
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if s.api != nil {
			return ctx, s.api.Shutdown(context.Background())
		}
		return ctx, nil
	})
	sc.Step(`^an option "([^"]*)" of type "([^"]*)" with value "([^"]*)"$`, s.option)
	sc.Step(`^a (?:stable|metadata) flagd provider$`, s.startProvider)
	sc.Step(`^a (Boolean|String|Integer|Float|Object)-flag with key "([^"]*)" and a default value "(.*)"$`,
		func(typ, key, fallback string) { s.typ, s.key, s.fallback = typ, key, unescape(fallback) })
	sc.Step(`^a context containing a targeting key with value "([^"]*)"$`, func(v string) { s.targetingKey = v })
	sc.Step(`^a context containing a nested property with outer key "([^"]*)" and inner key "([^"]*)", with value "([^"]*)"$`,
		func(outer, inner, v string) { s.attrs[outer] = map[string]any{inner: v} })
	sc.Step(`^a context containing a key "([^"]*)", with type "([^"]*)" and with value "([^"]*)"$`, s.contextKey)
	sc.Step(`^the flag was evaluated with details$`, s.evaluate)
	sc.Step(`^the resolved details value should be "(.*)"$`, s.valueIs)
	sc.Step(`^the reason should be "([^"]*)"$`, func(r string) error {
		return expect("reason", string(s.details.Reason), r)
	})
	sc.Step(`^the error-code should be "([^"]*)"$`, func(c string) error {
		return expect("error code", string(s.details.ErrorCode), c)
	})
	sc.Step(`^the variant should be "([^"]*)"$`, func(v string) error {
		return expect("variant", s.details.Variant, v)
	})
	sc.Step(`^the resolved metadata should contain$`, s.metadataContains)
	sc.Step(`^the resolved metadata is empty$`, func() error {
		if len(s.details.FlagMetadata) != 0 {
			return fmt.Errorf("metadata %v, want none", s.details.FlagMetadata)
		}
		return nil
	})
	sc.Step(`^an? (ready|error|stale|change) event handler$`, s.handleEvents)
	sc.Step(`^the flag was modified$`, s.modifyFlag)
	sc.Step(`^an? (ready|error|stale|change) event was fired$`, s.awaitEvent)
	sc.Step(`^the (ready|error|stale|change) event handler should have been executed$`, s.awaitEvent)
	sc.Step(`^the connection is lost for \d+s$`, func() error {
		return errors.New("connection handling does not apply to an in-process provider")
	})
	sc.Step(`^the flag should be part of the event payload$`, func() error {
		if !slices.Contains(s.changeEvent.FlagChanges, s.key) {
			return fmt.Errorf("change event names %q, not %q", s.changeEvent.FlagChanges, s.key)
		}
		return nil
	})
}

// option applies a flagd provider option. Of those the scenarios set,
// only the selector matters here; the provider has no cache to disable.
func (s *providerScenario) option(name, typ, v string) error {
	switch {
	case name == "selector" && typ == "String":
		s.selector = v
	case name == "cache" && typ == "CacheType" && v == "disabled":
	default:
		return fmt.Errorf("option %q of type %q with value %q does not apply to this provider", name, typ, v)
	}
	return nil
}

func (s *providerScenario) startProvider() error {
	set, err := loadTestbedFlags(s.selector)
	if err != nil {
		return err
	}
	s.ev = flags.NewEvaluator(set, flags.Options{})
	s.api = isolated.NewAPI()
	if err := s.api.SetProviderAndWait(context.Background(), flags.NewProvider(s.ev, flags.ProviderOptions{})); err != nil {
		return err
	}
	s.client = s.api.NewClient()
	return nil
}

func (s *providerScenario) contextKey(key, typ, v string) error {
	switch typ {
	case "String":
		s.attrs[key] = v
	case "Integer":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		s.attrs[key] = n
	case "Float":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		s.attrs[key] = f
	case "Boolean":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		s.attrs[key] = b
	default:
		return fmt.Errorf("unknown context type %q", typ)
	}
	return nil
}

// evaluate resolves the flag through the OpenFeature client. An
// evaluation error is not a step failure: the scenarios check the error
// code.
func (s *providerScenario) evaluate() error {
	if s.client == nil {
		return errors.New("no provider was started")
	}
	ctx := context.Background()
	evalCtx := openfeature.NewEvaluationContext(s.targetingKey, s.attrs)
	switch s.typ {
	case "Boolean":
		def, err := strconv.ParseBool(s.fallback)
		if err != nil {
			return err
		}
		d, _ := s.client.BooleanValueDetails(ctx, s.key, def, evalCtx)
		s.value, s.details = d.Value, d.EvaluationDetails
	case "String":
		d, _ := s.client.StringValueDetails(ctx, s.key, s.fallback, evalCtx)
		s.value, s.details = d.Value, d.EvaluationDetails
	case "Integer":
		def, err := strconv.ParseInt(s.fallback, 10, 64)
		if err != nil {
			return err
		}
		d, _ := s.client.IntValueDetails(ctx, s.key, def, evalCtx)
		s.value, s.details = d.Value, d.EvaluationDetails
	case "Float":
		def, err := strconv.ParseFloat(s.fallback, 64)
		if err != nil {
			return err
		}
		d, _ := s.client.FloatValueDetails(ctx, s.key, def, evalCtx)
		s.value, s.details = d.Value, d.EvaluationDetails
	case "Object":
		var def any
		if err := json.Unmarshal([]byte(s.fallback), &def); err != nil {
			return err
		}
		d, _ := s.client.ObjectValueDetails(ctx, s.key, def, evalCtx)
		s.value, s.details = d.Value, d.EvaluationDetails
	}
	return nil
}

func (s *providerScenario) valueIs(want string) error {
	want = unescape(want)
	var w any
	var err error
	switch s.typ {
	case "Boolean":
		w, err = strconv.ParseBool(want)
	case "String":
		w = want
	case "Integer":
		w, err = strconv.ParseInt(want, 10, 64)
	case "Float":
		w, err = strconv.ParseFloat(want, 64)
	case "Object":
		err = json.Unmarshal([]byte(want), &w)
	}
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(s.value, w) {
		return fmt.Errorf("value %#v, want %#v (reason %s, error %s %s)",
			s.value, w, s.details.Reason, s.details.ErrorCode, s.details.ErrorMessage)
	}
	return nil
}

// metadataContains checks each row's key, type and value; OpenFeature
// metadata holds strings, booleans, int64 and float64.
func (s *providerScenario) metadataContains(table *godog.Table) error {
	for _, row := range table.Rows[1:] {
		key, typ, want := row.Cells[0].Value, row.Cells[1].Value, row.Cells[2].Value
		got, ok := s.details.FlagMetadata[key]
		if !ok {
			return fmt.Errorf("metadata has no %q: %v", key, s.details.FlagMetadata)
		}
		var w any
		var err error
		switch typ {
		case "String":
			w = want
		case "Boolean":
			w, err = strconv.ParseBool(want)
		case "Integer":
			w, err = strconv.ParseInt(want, 10, 64)
		case "Float":
			w, err = strconv.ParseFloat(want, 64)
		default:
			err = fmt.Errorf("unknown metadata type %q", typ)
		}
		if err != nil {
			return err
		}
		if got != w {
			return fmt.Errorf("metadata %q is %#v (%T), want %#v (%T)", key, got, got, w, w)
		}
	}
	return nil
}

func (s *providerScenario) handleEvents(name string) error {
	if s.api == nil {
		return errors.New("no provider was started")
	}
	if s.events == nil {
		s.events = map[string]chan openfeature.EventDetails{}
	}
	events := make(chan openfeature.EventDetails, 16)
	s.events[name] = events
	handler := func(d openfeature.EventDetails) { events <- d }
	s.api.AddHandler(eventTypes[name], &handler)
	return nil
}

// modifyFlag switches the flag's default variant to another of its
// variants and serves the result, as the testbed's flagd reloads
// changing-flag. (Evaluator.Edit would refuse: the testbed's broken
// flags stay broken.)
func (s *providerScenario) modifyFlag() error {
	d := s.ev.Current().Definitions()
	f, ok := d.Flags[s.key]
	if !ok {
		return fmt.Errorf("no flag %q to modify", s.key)
	}
	other := slices.DeleteFunc(slices.Sorted(maps.Keys(f.Variants)), func(name string) bool { return name == f.DefaultVariant })
	if len(other) == 0 {
		return fmt.Errorf("flag %q has no other variant to switch to", s.key)
	}
	f.DefaultVariant = other[0]
	d.Flags[s.key] = f
	set, err := compileTestbed(d)
	if err != nil {
		return err
	}
	s.ev.Update(set)
	return nil
}

// awaitEvent waits for the next event of a type the scenario handles.
func (s *providerScenario) awaitEvent(name string) error {
	events, ok := s.events[name]
	if !ok {
		return fmt.Errorf("no %s event handler", name)
	}
	select {
	case d := <-events:
		if name == "change" {
			s.changeEvent = d
		}
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("no %s event within 5s", name)
	}
}
