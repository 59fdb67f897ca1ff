package jetstream

import (
	"cmp"
	"slices"
	"time"

	"github.com/saaskit/saaskit/events"
)

// heldEvents are the Early events a Consumer keeps, unanswered, until
// the event before each in its aggregate is handled: per aggregate, in
// aggregate order. Only Run's goroutine uses them.
type heldEvents struct {
	byAggregate map[string][]*delivery
}

func newHeldEvents() *heldEvents {
	return &heldEvents{byAggregate: map[string][]*delivery{}}
}

// aggregateOf returns the key that the held events of e's aggregate
// share.
func aggregateOf(e *events.Event) string {
	agg, _ := events.InboxKey(e)
	return e.TenantID + "\x00" + agg
}

// compareDeliveries orders deliveries by aggregate sequence, then by
// stream sequence.
func compareDeliveries(a, b *delivery) int {
	return cmp.Or(cmp.Compare(a.e.AggregateSeq, b.e.AggregateSeq), cmp.Compare(a.md.Sequence.Stream, b.md.Sequence.Stream))
}

// hold keeps d, in place of an earlier delivery of the same message.
// The next keepAlive tells the stream that d is in progress: it may have
// waited in the client's buffer for a good part of AckWait already.
func (h *heldEvents) hold(d *delivery) {
	agg := aggregateOf(d.e)
	list := h.byAggregate[agg]
	i, found := slices.BinarySearchFunc(list, d, compareDeliveries)
	if found {
		list[i] = d
		return
	}
	h.byAggregate[agg] = slices.Insert(list, i, d)
}

// first returns the held event of agg that comes first, or nil.
func (h *heldEvents) first(agg string) *delivery {
	if list := h.byAggregate[agg]; len(list) > 0 {
		return list[0]
	}
	return nil
}

// remove forgets the held event of agg that comes first.
func (h *heldEvents) remove(agg string) {
	list := h.byAggregate[agg]
	if len(list) <= 1 {
		delete(h.byAggregate, agg)
		return
	}
	list[0] = nil
	h.byAggregate[agg] = list[1:]
}

// empty reports whether no event is held.
func (h *heldEvents) empty() bool { return len(h.byAggregate) == 0 }

// byStreamSeq returns the held event that comes first in its aggregate
// if its stream sequence is seq, or nil.
func (h *heldEvents) byStreamSeq(seq uint64) *delivery {
	for _, list := range h.byAggregate {
		if list[0].md.Sequence.Stream == seq {
			return list[0]
		}
	}
	return nil
}

// aggregates returns the aggregates with held events.
func (h *heldEvents) aggregates() []string {
	aggs := make([]string, 0, len(h.byAggregate))
	for agg := range h.byAggregate {
		aggs = append(aggs, agg)
	}
	return aggs
}

// keepAlive tells the stream that every held event not heard of for
// every is still in progress, so that it does not deliver it again.
func (h *heldEvents) keepAlive(every time.Duration) {
	now := time.Now()
	for _, list := range h.byAggregate {
		for _, d := range list {
			if now.Sub(d.kept) >= every {
				_ = d.msg.InProgress()
				d.kept = now
			}
		}
	}
}

// release returns every held event to the stream, to be delivered again
// at once (to another process of the consumer, say), and forgets them.
func (h *heldEvents) release() {
	for agg, list := range h.byAggregate {
		for _, d := range list {
			_ = d.msg.Nak()
		}
		delete(h.byAggregate, agg)
	}
}
