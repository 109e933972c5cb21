-- Reports that carry a spool_dropped count (an agent dropped reports from its full spool): few.
-- This partial index holds only them, so the host detail's sum over a day (ReportsDropped) reads
-- those rows instead of every report of the day. Its predicate is the query's, word for word.
CREATE INDEX samples_dropped ON samples (host_id, time) WHERE report::text LIKE '%"spool_dropped"%';
