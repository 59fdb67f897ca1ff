-- Claim takes the idle lane that was released first and has work. With
-- the lanes in that order in an index, it checks lanes for work one at
-- a time in that order and stops at the first that has some, rather
-- than checking all of them before sorting.
CREATE INDEX events_lanes_lease ON events_lanes (lease_until, lane);
