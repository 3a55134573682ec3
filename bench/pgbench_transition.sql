-- Ceiling B of bench/transition_throughput.py: the write set of one `waitlist` transition, straight into
-- PostgreSQL (run with -M prepared; -D token_hash=<sha256 of the coordinator's token>).
-- Each transaction takes the next case of the pgbench pool from the sequence the benchmark created; an
-- exhausted pool or a failed version check (no row) makes \gset fail, which pgbench reports as an error.
-- The audit event is hashed onto its chain exactly as ews_cases.audit.chain does (canonical JSON: sorted keys, no
-- spaces), so the chains verify. pgbench substitutes `:name` even inside string literals: no literal here
-- holds a colon before a letter (chr(58) is a colon; JSON nulls come in through %s).
SELECT nextval('bench_pgbench_case') AS case_id, 'case:' || currval('bench_pgbench_case') AS chain \gset
BEGIN;
SELECT u.id AS user_id, u.role AS user_role FROM api_tokens t JOIN users u ON u.id = t.user_id
  WHERE t.token_hash = (:token_hash)::text AND t.revoked_at IS NULL AND u.active \gset
UPDATE cases SET state = 'waitlisted', version = version + 1, updated_at = now()
  WHERE id = (:case_id)::int AND version = 3 AND state = 'reviewed'
  RETURNING version AS new_version, contact_email, reference,
    (SELECT number FROM cohorts WHERE cohorts.id = cases.cohort_id) AS cohort_number \gset
SELECT position + 1 AS next_position, hash AS prev_hash FROM audit_chain_heads
  WHERE chain = (:chain)::text FOR UPDATE \gset
INSERT INTO outbox_messages (dedup_key, message_id, case_id, kind, recipient, subject, body, attachments,
    headers, status, attempts, next_attempt_at, created_at)
  VALUES (concat_ws(':', (:chain)::text, 'v' || (:new_version)::text, 'waitlist', 'announce_waitlist',
      (:contact_email)::text),
    '<' || md5(random()::text || clock_timestamp()::text) || '@example.org>', (:case_id)::int,
    'announce_waitlist', (:contact_email)::text, 'Bewerbung ' || (:reference)::text || ': Warteliste',
    'Guten Tag, die Bewerbung ' || (:reference)::text || ' steht auf der Warteliste.', '[]', '{}',
    'pending', 0, now(), now())
  RETURNING id AS message_id \gset
INSERT INTO audit_events (chain, position, case_id, cohort_number, occurred_at, actor, actor_role, action,
    from_state, to_state, data, request_id, prev_hash, hash)
  SELECT (:chain)::text, (:next_position)::int, (:case_id)::int, (:cohort_number)::int, e.ts,
    'user' || chr(58) || (:user_id)::text, (:user_role)::text, 'transition.waitlist', 'reviewed', 'waitlisted',
    e.data::jsonb, NULL, (:prev_hash)::text,
    encode(sha256(convert_to((:prev_hash)::text || format(
      '{"action":"transition.waitlist","actor":"user%s","actor_role":"%s","case_id":%s,"chain":"%s",'
      '"cohort":%s,"data":%s,"from_state":"reviewed","occurred_at":"%s","position":%s,"request_id":%s,'
      '"to_state":"waitlisted"}',
      chr(58) || (:user_id)::text, (:user_role)::text, (:case_id)::int, (:chain)::text,
      (:cohort_number)::int, e.data, e.at, (:next_position)::int, 'null'), 'UTF8')), 'hex')
  FROM (SELECT t.ts, format(
      '{"emails":[{"id":%s,"kind":"announce_waitlist","to":"%s"}],"overridden":[],"reason":%s,'
      '"transition":"waitlist","version":%s}',
      (:message_id)::bigint, (:contact_email)::text, 'null', (:new_version)::int) AS data,
    to_char(t.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24') || chr(58) || to_char(t.ts AT TIME ZONE 'UTC', 'MI')
      || chr(58) || to_char(t.ts AT TIME ZONE 'UTC', 'SS.US"Z"') AS at
    FROM (SELECT now() AS ts) t) e
  RETURNING hash AS new_hash \gset
UPDATE audit_chain_heads SET position = (:next_position)::int, hash = (:new_hash)::text
  WHERE chain = (:chain)::text;
END;
