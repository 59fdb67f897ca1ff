package flags_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/cucumber/godog"

	"github.com/saaskit/saaskit/flags"
)

// TestFlagdEvaluatorSuite runs flagd-testbed's evaluator scenarios
// (testdata/flagd-testbed, Apache-2.0, see its README) against the
// Evaluator: every scenario except the legacy fractional-v1 bucketing.
func TestFlagdEvaluatorSuite(t *testing.T) {
	data, err := os.ReadFile("testdata/flagd-testbed/testkit-flags.json")
	if err != nil {
		t.Fatal(err)
	}
	set, err := flags.Parse(data)
	if set == nil {
		t.Fatal(err)
	}
	// The testkit holds one flag that cannot compile on purpose; flagd
	// serves it with PARSE_ERROR, and so do we.
	var de *flags.DefinitionError
	if !errors.As(err, &de) || de.Flag != "ref-to-nonexistent-evaluator-flag" || strings.Count(err.Error(), "flag \"") != 1 {
		t.Fatalf("want exactly the nonexistent $ref reported, got %v", err)
	}
	suite := godog.TestSuite{
		Name:                "flagd-evaluator",
		ScenarioInitializer: func(sc *godog.ScenarioContext) { (&scenario{set: set}).register(sc) },
		Options: &godog.Options{
			Format:   "progress",
			Paths:    []string{"testdata/flagd-testbed/gherkin"},
			Tags:     "~@fractional-v1",
			TestingT: t,
			Strict:   true,
		},
	}
	if suite.Run() != 0 {
		t.Fatal("flagd evaluator scenarios failed")
	}
}

// scenario is the state of one scenario.
type scenario struct {
	set      *flags.Set
	ev       *flags.Evaluator
	typ, key string
	fallback string
	ctx      map[string]any
	value    any
	detail   flags.Detail
}

func (s *scenario) register(sc *godog.ScenarioContext) {
	sc.Step(`^an evaluator$`, func() {
		s.ev = flags.NewEvaluator(s.set, flags.Options{})
		s.ctx = map[string]any{}
	})
	sc.Step(`^a (Boolean|String|Integer|Float|Object)-flag with key "([^"]*)" and a fallback value "(.*)"$`,
		func(typ, key, fallback string) { s.typ, s.key, s.fallback = typ, key, unescape(fallback) })
	sc.Step(`^a context containing a targeting key with value "([^"]*)"$`, func(v string) { s.ctx["targetingKey"] = v })
	sc.Step(`^a context containing a nested property with outer key "([^"]*)" and inner key "([^"]*)", with value "([^"]*)"$`,
		func(outer, inner, v string) { s.ctx[outer] = map[string]any{inner: v} })
	sc.Step(`^a context containing a key "([^"]*)", with type "([^"]*)" and with value "([^"]*)"$`, s.contextKey)
	sc.Step(`^the flag was evaluated with details$`, s.evaluate)
	sc.Step(`^the resolved details value should be "(.*)"$`, s.valueIs)
	sc.Step(`^the reason should be "([^"]*)"$`, func(r string) error {
		return expect("reason", s.detail.Reason.String(), r)
	})
	sc.Step(`^the error-code should be "([^"]*)"$`, func(c string) error {
		return expect("error code", s.detail.ErrorCode.String(), c)
	})
	sc.Step(`^the resolved metadata should contain$`, s.metadataContains)
	sc.Step(`^the resolved metadata is empty$`, func() error {
		if len(s.detail.Metadata) != 0 {
			return fmt.Errorf("metadata %v, want none", s.detail.Metadata)
		}
		return nil
	})
}

func (s *scenario) contextKey(key, typ, v string) error {
	switch typ {
	case "String":
		s.ctx[key] = v
	case "Integer":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		s.ctx[key] = n
	case "Float":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return err
		}
		s.ctx[key] = f
	case "Boolean":
		s.ctx[key] = v == "true"
	default:
		return fmt.Errorf("unknown context type %q", typ)
	}
	return nil
}

func (s *scenario) evaluate() error {
	switch s.typ {
	case "Boolean":
		s.value, s.detail = s.ev.Bool(s.key, s.ctx, s.fallback == "true")
	case "String":
		s.value, s.detail = s.ev.String(s.key, s.ctx, s.fallback)
	case "Integer":
		def, _ := strconv.ParseInt(s.fallback, 10, 64)
		s.value, s.detail = s.ev.Int(s.key, s.ctx, def)
	case "Float":
		def, _ := strconv.ParseFloat(s.fallback, 64)
		s.value, s.detail = s.ev.Float(s.key, s.ctx, def)
	case "Object":
		var def any
		if err := json.Unmarshal([]byte(s.fallback), &def); err != nil {
			return err
		}
		s.value, s.detail = s.ev.Object(s.key, s.ctx, def)
	}
	return nil
}

func (s *scenario) valueIs(want string) error {
	want = unescape(want)
	switch s.typ {
	case "Boolean", "String", "Integer":
		return expect("value", fmt.Sprint(s.value), want)
	case "Float":
		w, err := strconv.ParseFloat(want, 64)
		if err != nil {
			return err
		}
		if s.value != w {
			return fmt.Errorf("value %v, want %v", s.value, w)
		}
	case "Object":
		var w any
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			return err
		}
		if !reflect.DeepEqual(s.value, w) {
			return fmt.Errorf("value %v, want %v", s.value, w)
		}
	}
	return nil
}

func (s *scenario) metadataContains(table *godog.Table) error {
	for _, row := range table.Rows[1:] {
		key, typ, want := row.Cells[0].Value, row.Cells[1].Value, row.Cells[2].Value
		got, ok := s.detail.Metadata[key]
		if !ok {
			return fmt.Errorf("metadata has no %q: %v", key, s.detail.Metadata)
		}
		var match bool
		switch typ {
		case "String":
			match = got == want
		case "Boolean":
			match = fmt.Sprint(got) == want
		case "Integer", "Float":
			match = fmt.Sprint(got) == want
		}
		if !match {
			return fmt.Errorf("metadata %q is %v (%T), want %s %s", key, got, got, typ, want)
		}
	}
	return nil
}

// unescape undoes the \" escapes of the feature files' tables.
func unescape(s string) string { return strings.ReplaceAll(s, `\"`, `"`) }

func expect(what, got, want string) error {
	if got != want {
		return fmt.Errorf("%s %q, want %q", what, got, want)
	}
	return nil
}
