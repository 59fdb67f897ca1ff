package main

import (
	"testing"
)

// FuzzParseSourceMap: any --map file gives a map or an error, never a
// panic, and a map it accepts has only known erase strategies.
func FuzzParseSourceMap(f *testing.F) {
	f.Add([]byte(`{"tables": [{"table": "notes", "identity_column": "user_id", "identity_kind": "user_id", "erase": {"body": "fixed:[erased]", "title": "null"}}]}`))
	f.Add([]byte(`{"tables": []}`))
	f.Add([]byte(`{"tables": [{"erase": {"x": "burn"}}]}`))
	f.Add([]byte(`{"tables": [{"tabel": "typo"}]}`))
	f.Add([]byte(`[`))
	f.Add([]byte(`{"tables": [{"table": "m", "columns": ["id", "email"], "decrypt": {"email": {"subject_column": "id", "associated_data": "m.email:{id}{"}}}]}`))
	f.Add([]byte(`{"tables": [{"table": "m", "decrypt": {"email": {"associated_data": "{}"}}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseSourceMap(data)
		if err != nil {
			return
		}
		if len(m.Tables) == 0 {
			t.Fatal("accepted a map without tables")
		}
		for _, tm := range m.Tables {
			for col, s := range tm.Erase {
				if _, err := strategy(s); err != nil {
					t.Fatalf("accepted column %s with %v", col, err)
				}
			}
			for col, d := range tm.Decrypt {
				if d.SubjectColumn == "" {
					t.Fatalf("accepted decrypting column %s with no subject column", col)
				}
			}
		}
	})
}

func FuzzParseSubject(f *testing.F) {
	f.Add("user_id=usr_42", "email=ada@example.com")
	f.Add("=x", "k=")
	f.Fuzz(func(t *testing.T, a, b string) {
		s, err := parseSubject([]string{a, b})
		if err != nil {
			return
		}
		for _, id := range s.Identities {
			if id.Kind == "" || id.Value == "" {
				t.Fatalf("accepted an empty identity part: %+v", id)
			}
		}
	})
}
