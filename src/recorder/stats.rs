//! Live figures per queue and tier (pure): HdrHistograms and counters, updated as calls end.
