-- Events counted per scope by triggers, so the roll-off needs no COUNT(*) per insert
-- (it was most of a seed fetch's cost). Existing events are counted once, here.
DELETE FROM event_counts;
INSERT INTO event_counts (scope, count)
    SELECT COALESCE('node:' || hostname, 'without-node'), COUNT(*) FROM events GROUP BY 1
    UNION ALL
    SELECT 'install:' || install_id, COUNT(*) FROM events WHERE install_id IS NOT NULL GROUP BY 1;
DROP TRIGGER IF EXISTS events_counted;
DROP TRIGGER IF EXISTS events_uncounted;
CREATE TRIGGER events_counted AFTER INSERT ON events BEGIN
    INSERT INTO event_counts (scope, count)
        VALUES (COALESCE('node:' || NEW.hostname, 'without-node'), 1)
        ON CONFLICT (scope) DO UPDATE SET count = count + 1;
    INSERT INTO event_counts (scope, count) SELECT 'install:' || NEW.install_id, 1
        WHERE NEW.install_id IS NOT NULL ON CONFLICT (scope) DO UPDATE SET count = count + 1;
END;
CREATE TRIGGER events_uncounted AFTER DELETE ON events BEGIN
    UPDATE event_counts SET count = count - 1 WHERE scope IN
        (COALESCE('node:' || OLD.hostname, 'without-node'), 'install:' || OLD.install_id);
END;
