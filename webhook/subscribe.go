package webhook

import "sync"

// Outcome is an attempt's outcome once the queue has recorded it: the
// delivery as it now is (its State, Attempts, NextAt and LastError) and
// the attempt.
type Outcome struct {
	Delivery Delivery
	Attempt  Attempt
}

// subscribers are the channels Subscribe handed out.
type subscribers struct {
	mu    sync.Mutex
	chans map[chan Outcome]struct{}
}

// Subscribe returns a channel of the outcomes this process's Run
// records from now on, as River's Subscribe does for jobs: for
// dashboards, tests and benchmarks to follow deliveries without polling
// the queue. The channel holds up to buffer outcomes (at least 1); an
// outcome that finds it full is dropped for this subscriber, so a slow
// subscriber never slows delivery. Call the returned function to stop:
// it closes the channel.
func (d *Dispatcher) Subscribe(buffer int) (<-chan Outcome, func()) {
	c := make(chan Outcome, max(buffer, 1))
	s := &d.subscribers
	s.mu.Lock()
	if s.chans == nil {
		s.chans = map[chan Outcome]struct{}{}
	}
	s.chans[c] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.chans, c)
			s.mu.Unlock()
			close(c)
		})
	}
}

// publish hands a recorded outcome to every subscriber with room for it.
// Postponements (no attempt made) are not outcomes.
func (s *subscribers) publish(del *Delivery, a Attempt) {
	if a.At.IsZero() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.chans) == 0 {
		return
	}
	o := Outcome{Delivery: *del, Attempt: a}
	for c := range s.chans {
		select {
		case c <- o:
		default:
		}
	}
}
