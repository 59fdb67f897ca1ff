package versioning

// Objects calls fn with the body's JSON object, or with each object of
// a JSON array (a list response). An object whose "data" member is an
// array (a page of a list) or an object (an event's envelope) stands for
// that member: fn sees the array's objects, or the inner object.
func (b *Body) Objects(fn func(obj map[string]any)) {
	switch v := b.Value.(type) {
	case map[string]any:
		switch data := v["data"].(type) {
		case []any:
			eachObject(data, fn)
		case map[string]any:
			fn(data)
		default:
			fn(v)
		}
	case []any:
		eachObject(v, fn)
	}
}

func eachObject(items []any, fn func(map[string]any)) {
	for _, it := range items {
		if obj, ok := it.(map[string]any); ok {
			fn(obj)
		}
	}
}

// RenameField is an Apply that renames a field of the body's objects
// (see Objects), for a change that renamed it: give it (new, old) for
// responses and (old, new) for requests.
func RenameField(from, to string) func(*Body) error {
	return func(b *Body) error {
		b.Objects(func(obj map[string]any) {
			if v, ok := obj[from]; ok {
				delete(obj, from)
				obj[to] = v
			}
		})
		return nil
	}
}

// RemoveField is an Apply that drops a field from the body's objects:
// for a response, a field older callers never had.
func RemoveField(name string) func(*Body) error {
	return func(b *Body) error {
		b.Objects(func(obj map[string]any) { delete(obj, name) })
		return nil
	}
}
