-- Fixture for the golden differential test (test/compat/golden.test.ts, scripts/golden-compat.sh).
-- Loaded with search_path set to the test's schema; every name below is unqualified.
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE pair AS (a integer, b text);

-- Every built-in type as a column: row 1 ordinary values, row 2 NULLs, row 3 edge values.
CREATE TABLE all_types (
  id integer PRIMARY KEY,
  c_int2 smallint, c_int4 integer, c_int8 bigint, c_float4 real, c_float8 double precision,
  c_numeric numeric, c_numeric_scaled numeric(12, 4), c_money money, c_bool boolean,
  c_char char(5), c_varchar varchar(20), c_text text, c_name name, c_bytea bytea,
  c_date date, c_time time, c_timetz timetz, c_timestamp timestamp, c_timestamptz timestamptz,
  c_uuid uuid, c_json json, c_jsonb jsonb, c_xml xml,
  c_inet inet, c_cidr cidr, c_macaddr macaddr, c_macaddr8 macaddr8, c_bit bit(4), c_varbit varbit,
  c_point point, c_line line, c_lseg lseg, c_box box, c_path path, c_polygon polygon, c_circle circle,
  c_tsvector tsvector, c_tsquery tsquery,
  c_int_array integer[], c_text_array text[], c_enum mood, c_oid oid, c_pg_lsn pg_lsn
);
INSERT INTO all_types VALUES
  (1, 1, 2, 3, 1.5, 2.25, 10, 1.5, 12.34, true, 'ab', 'varchar', 'text', 'name', '\x0102ff',
   '2024-03-15', '13:14:15.5', '13:14:15.5+02', '2024-03-15 13:14:15.5', '2024-03-15 13:14:15.5+00',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1, "b": [1, 2]}', '{"a": 1, "b": [1, 2]}',
   '<a>1</a>', '10.0.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', B'1010', B'101',
   '(1.5,2)', '{1,-1,0}', '[(0,0),(1,1)]', '((1,1),(0,0))', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))',
   '<(1,1),2>', 'a fat cat', 'fat & cat', '{1,2,3}', '{"a","b c"}', 'happy', 42, '16/B374D848'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, -32768, 2147483647, 9223372036854775807, 3.4e38, 1e308, 123456789012345678901234567890, 0.0001,
   -92233720368547758.08, false, '', '', E'line\nbreak "quoted" \\ \u00e9', '', '\x',
   '9999-12-31', '00:00:00', '23:59:59.999999-05:30', '2024-02-29 23:59:59.000001', '1970-01-01 00:00:00+00',
   '00000000-0000-0000-0000-000000000000', '{"a": 1, "a": 2}', '{"a": 1, "a": 2}',
   '<x/>', '::1', '::/0', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', B'0000', B'',
   '(-1e-7,1e20)', '{0,1,0}', '[(0,0),(0,0)]', '((0,0),(0,0))', '((0,0),(1,1))', '((0,0))',
   '<(0,0),0>', '', '!a', '{}', '{NULL,""}', 'sad', 0, '0/0');

-- Types Elastic's connector cannot serialize (its sync fails on them): each in its own table.
CREATE TABLE t_interval (id integer PRIMARY KEY, v interval);
INSERT INTO t_interval VALUES (1, '1 day 02:03:04'), (2, '-1 year -2 months 3 days'), (3, NULL);
CREATE TABLE t_range (id integer PRIMARY KEY, i4 int4range, i8 int8range, num numrange, d daterange,
  ts tsrange, tstz tstzrange);
INSERT INTO t_range VALUES
  (1, '[1,10)', '[1,10)', '[1.5,2.5]', '[2024-01-01,2024-02-01)', '[2024-01-01 00:00,2024-01-02 00:00)',
   '[2024-01-01 00:00+00,2024-01-02 00:00+00)'),
  (2, 'empty', '(,)', '(,5]', '[2024-01-01,)', '(,2024-01-01 00:00]', 'empty');
CREATE TABLE t_composite (id integer PRIMARY KEY, v pair);
INSERT INTO t_composite VALUES (1, '(1,x)'), (2, '(,)');

-- Dates Python's datetime cannot hold (BC) or holds as its minimum/maximum (infinity).
CREATE TABLE bc_dates (id integer PRIMARY KEY, d date, ts timestamp, tstz timestamptz);
INSERT INTO bc_dates VALUES (1, '0044-03-15 BC', '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00+00 BC');
CREATE TABLE infinite_dates (id integer PRIMARY KEY, d date, ts timestamp, tstz timestamptz);
INSERT INTO infinite_dates VALUES (1, 'infinity', 'infinity', 'infinity');
CREATE TABLE minus_infinite_dates (id integer PRIMARY KEY, d date, ts timestamp, tstz timestamptz);
INSERT INTO minus_infinite_dates VALUES (1, '-infinity', '-infinity', '-infinity');
CREATE TABLE early_dates (id integer PRIMARY KEY, d date, ts timestamp, tstz timestamptz);
INSERT INTO early_dates VALUES (1, '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00');

-- Every type PostgreSQL can key on, as a primary key (ids are built from their values).
CREATE TABLE k_int2 (k smallint PRIMARY KEY, v text);
INSERT INTO k_int2 VALUES (-1, 'a'), (7, 'b');
CREATE TABLE k_int8 (k bigint PRIMARY KEY, v text);
INSERT INTO k_int8 VALUES (9223372036854775807, 'a'), (-5, 'b');
CREATE TABLE k_real (k real PRIMARY KEY, v text);
INSERT INTO k_real VALUES (1.1, 'a'), (3.4e38, 'b'), (-0.5, 'c'), (100, 'd');
CREATE TABLE k_float8 (k double precision PRIMARY KEY, v text);
INSERT INTO k_float8 VALUES (1.1, 'a'), (1e300, 'b'), (2.5e-7, 'c'), (100, 'd');
CREATE TABLE k_numeric (k numeric PRIMARY KEY, v text);
INSERT INTO k_numeric VALUES (10, 'a'), (2.5, 'b'), (123456789012345678901234567890, 'c'), (0.0000001, 'd'), (1.50, 'e');
CREATE TABLE k_bool (k boolean PRIMARY KEY, v text);
INSERT INTO k_bool VALUES (true, 'a'), (false, 'b');
CREATE TABLE k_char (k char(4) PRIMARY KEY, v text);
INSERT INTO k_char VALUES ('ab', 'a'), ('wxyz', 'b');
CREATE TABLE k_varchar (k varchar(10) PRIMARY KEY, v text);
INSERT INTO k_varchar VALUES ('with_under', 'a'), ('plain', 'b');
CREATE TABLE k_text (k text PRIMARY KEY, v text);
INSERT INTO k_text VALUES ('a_b_c', 'a'), ('é ü', 'b'), ('slash/and space', 'c');
CREATE TABLE k_bytea (k bytea PRIMARY KEY, v text);
INSERT INTO k_bytea VALUES ('\x00616227', 'a'), ('abc', 'b');
CREATE TABLE k_uuid (k uuid PRIMARY KEY, v text);
INSERT INTO k_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a');
CREATE TABLE k_date (k date PRIMARY KEY, v text);
INSERT INTO k_date VALUES ('2024-03-15', 'a'), ('0001-01-01', 'b');
CREATE TABLE k_time (k time PRIMARY KEY, v text);
INSERT INTO k_time VALUES ('13:14:15.5', 'a'), ('00:00:00', 'b');
CREATE TABLE k_timetz (k timetz PRIMARY KEY, v text);
INSERT INTO k_timetz VALUES ('13:14:15.5+02', 'a'), ('00:00:00-05:30', 'b');
CREATE TABLE k_timestamp (k timestamp PRIMARY KEY, v text);
INSERT INTO k_timestamp VALUES ('2024-03-15 13:14:15.5', 'a'), ('2024-03-15 00:00:00', 'b');
CREATE TABLE k_timestamptz (k timestamptz PRIMARY KEY, v text);
INSERT INTO k_timestamptz VALUES ('2024-03-15 13:14:15.5+02', 'a'), ('2024-03-15 00:00:00+00', 'b');
CREATE TABLE k_inet (k inet PRIMARY KEY, v text);
INSERT INTO k_inet VALUES ('10.0.0.1', 'a'), ('10.0.0.0/8', 'b'), ('::1', 'c'), ('192.168.1.5/24', 'd');
CREATE TABLE k_cidr (k cidr PRIMARY KEY, v text);
INSERT INTO k_cidr VALUES ('10.0.0.0/8', 'a'), ('10.1.2.3/32', 'b');
CREATE TABLE k_macaddr (k macaddr PRIMARY KEY, v text);
INSERT INTO k_macaddr VALUES ('08:00:2b:01:02:03', 'a');
CREATE TABLE k_bit (k bit(4) PRIMARY KEY, v text);
INSERT INTO k_bit VALUES (B'1010', 'a');
CREATE TABLE k_enum (k mood PRIMARY KEY, v text);
INSERT INTO k_enum VALUES ('happy', 'a');
CREATE TABLE k_oid (k oid PRIMARY KEY, v text);
INSERT INTO k_oid VALUES (42, 'a');
CREATE TABLE k_money (k money PRIMARY KEY, v text);
INSERT INTO k_money VALUES (12.34, 'a');
CREATE TABLE k_composite (a integer, b text, c date, PRIMARY KEY (a, b, c));
INSERT INTO k_composite VALUES (1, 'x_y', '2024-01-01'), (2, 'z', '2024-01-02');

-- A partitioned table: Elastic's connector reads each partition as its own table.
CREATE TABLE measurements (id integer, at date, value numeric, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO measurements VALUES (1, '2024-06-01', 1.5), (2, '2025-06-01', 2.5);

-- The reference's advanced-rule example tables, and a view synced through id_columns (rules.json).
CREATE TABLE employee (emp_id integer PRIMARY KEY, name text NOT NULL, age integer);
CREATE TABLE customer (c_id integer PRIMARY KEY, name text NOT NULL, age integer);
INSERT INTO employee VALUES (3, 'John', 28), (10, 'Jane', 35), (14, 'Alex', 22);
INSERT INTO customer VALUES (2, 'Elm', 24), (6, 'Pine', 30), (9, 'Oak', 34);
CREATE VIEW adults AS SELECT emp_id AS person_id, name, age FROM employee WHERE age >= 25;
