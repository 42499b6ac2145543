-- Each field of an EPC's current state now carries the time of the event
-- that set it, as biz_location already did, so that a late event (older
-- than the EPC's newest, as happens across sites and at the hub) still sets
-- the fields nothing newer has said. Stores written before kept one time per
-- EPC; it stands in for the three new ones, which is what the old rule used.
ALTER TABLE epc_state ADD COLUMN read_point_time INTEGER;
ALTER TABLE epc_state ADD COLUMN disposition_time INTEGER;
ALTER TABLE epc_state ADD COLUMN biz_step_time INTEGER;
-- emptied_time: when a container was last emptied by an AggregationEvent
-- DELETE without children, so that a pack into it that arrives later but
-- happened before does not put its children back.
ALTER TABLE epc_state ADD COLUMN emptied_time INTEGER;
UPDATE epc_state SET
	read_point_time  = CASE WHEN read_point  IS NOT NULL THEN event_time END,
	disposition_time = CASE WHEN disposition IS NOT NULL THEN event_time END,
	biz_step_time    = CASE WHEN biz_step    IS NOT NULL THEN event_time END;
