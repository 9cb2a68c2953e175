-- What PostGraphile needs beside Passerelle's own schema to answer the bench's queries on the
-- same data. Passerelle's mission indexes are partial (on the public predicate); PostGraphile
-- filters with `condition`, so it gets the plain indexes for the same relations and orders.
CREATE INDEX IF NOT EXISTS peer_missions_domain_start_idx ON missions (domain, start_at, id);
CREATE INDEX IF NOT EXISTS peer_missions_organization_start_idx ON missions (organization_id, start_at, id);
CREATE INDEX IF NOT EXISTS peer_missions_publisher_idx ON missions (publisher_id);
-- PostGraphile offers a condition on a column only when an index starts with it; Passerelle's
-- indexes by status leave the public missions out (migration 8).
CREATE INDEX IF NOT EXISTS peer_missions_status_idx ON missions (status);
CREATE INDEX IF NOT EXISTS peer_missions_deleted_idx ON missions (deleted_at);
CREATE INDEX IF NOT EXISTS peer_applications_mission_idx ON applications (mission_id, id);

-- Keyword search: the same full-text index and predicate as Passerelle's, in start order.
CREATE OR REPLACE FUNCTION search_missions(q text) RETURNS SETOF missions AS $$
  SELECT * FROM missions
  WHERE search_vector @@ to_tsquery('simple', q) AND status = 'VALIDATED' AND deleted_at IS NULL
  ORDER BY start_at, id
$$ LANGUAGE sql STABLE;

-- Missions with an address within km of (lat, lon), nearest first: the same bounding box on
-- the (lat, lon) index and the same haversine distance as Passerelle's.
CREATE OR REPLACE FUNCTION near_distances(lat double precision, lon double precision, km double precision)
RETURNS TABLE (mission_id bigint, distance_km double precision) AS $$
  SELECT a.mission_id,
         MIN(2 * 6371.0088 * asin(sqrt(power(sin(radians(a.lat - near_distances.lat) / 2), 2)
           + cos(radians(near_distances.lat)) * cos(radians(a.lat))
           * power(sin(radians(a.lon - near_distances.lon) / 2), 2)))) AS distance_km
  FROM mission_addresses a
  WHERE a.lat BETWEEN near_distances.lat - km / 110.0 AND near_distances.lat + km / 110.0
    AND a.lon BETWEEN near_distances.lon - km / (110.0 * cos(radians(near_distances.lat)))
                  AND near_distances.lon + km / (110.0 * cos(radians(near_distances.lat)))
  GROUP BY a.mission_id
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION missions_near(lat double precision, lon double precision, km double precision)
RETURNS SETOF missions AS $$
  SELECT m.* FROM missions m JOIN near_distances(lat, lon, km) d ON d.mission_id = m.id
  WHERE d.distance_km <= km AND m.status = 'VALIDATED' AND m.deleted_at IS NULL
  ORDER BY d.distance_km, m.id
$$ LANGUAGE sql STABLE;

-- The four facets of the same set, most frequent first.
DROP TYPE IF EXISTS facet_count CASCADE;
CREATE TYPE facet_count AS (facet text, value text, n bigint);
CREATE OR REPLACE FUNCTION missions_near_facets(lat double precision, lon double precision, km double precision)
RETURNS SETOF facet_count AS $$
  WITH m AS (SELECT * FROM missions_near(lat, lon, km))
  (SELECT 'domains', domain, count(*) FROM m GROUP BY domain ORDER BY 3 DESC, 2)
  UNION ALL
  (SELECT 'types', mission_type, count(*) FROM m GROUP BY mission_type ORDER BY 3 DESC, 2)
  UNION ALL
  (SELECT 'departmentCodes', a.department_code, count(DISTINCT m.id) FROM m
     JOIN mission_addresses a ON a.mission_id = m.id WHERE a.department_code IS NOT NULL
     GROUP BY a.department_code ORDER BY 3 DESC, 2)
  UNION ALL
  (SELECT 'remote', remote, count(*) FROM m GROUP BY remote ORDER BY 3 DESC, 2)
$$ LANGUAGE sql STABLE;

-- An application's mission unless it was deleted, as Passerelle shows it to an admin.
CREATE OR REPLACE FUNCTION applications_live_mission(a applications) RETURNS missions AS $$
  SELECT * FROM missions WHERE id = a.mission_id AND deleted_at IS NULL
$$ LANGUAGE sql STABLE;
