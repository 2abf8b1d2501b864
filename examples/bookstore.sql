-- A small sample database for the demo: authors, books and a view, generated deterministically.
DROP SCHEMA IF EXISTS bookstore CASCADE;
CREATE SCHEMA bookstore;

CREATE TABLE bookstore.authors (
  author_id integer PRIMARY KEY,
  name text NOT NULL,
  born date,
  country text
);

CREATE TABLE bookstore.books (
  isbn text PRIMARY KEY,
  title text NOT NULL,
  author_id integer REFERENCES bookstore.authors,
  price numeric(8, 2),
  published timestamptz,
  tags text[],
  details jsonb,
  in_stock boolean
);

-- No primary key: skipped by a table sync, with a warning that says why.
CREATE TABLE bookstore.page_views (isbn text, viewed_at timestamptz);

INSERT INTO bookstore.authors
SELECT g,
       (ARRAY['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken'])[1 + g % 8] || ' ' ||
       (ARRAY['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson'])[1 + (g * 7) % 8],
       date '1900-01-01' + (g * 3571) % 30000,
       (ARRAY['UK', 'US', 'NL', 'DE', 'FR', 'JP'])[1 + g % 6]
FROM generate_series(1, 200) AS g;

INSERT INTO bookstore.books
SELECT '978' || lpad(g::text, 10, '0'),
       initcap((ARRAY['the art of', 'notes on', 'a discipline of', 'structured', 'elements of', 'on the theory of'])[1 + g % 6] || ' ' ||
               (ARRAY['programming', 'search', 'databases', 'compilers', 'networks', 'indexing', 'algorithms'])[1 + (g * 13) % 7]) ||
       ' vol. ' || g,
       1 + g % 200,
       round((5 + (g * 7919) % 9500 / 100.0)::numeric, 2),
       timestamptz '1970-01-01 00:00:00+00' + make_interval(days => (g * 7919) % 20000),
       ARRAY[(ARRAY['classic', 'new', 'bestseller', 'reference'])[1 + g % 4]],
       jsonb_build_object('pages', 100 + g % 900, 'edition', 1 + g % 5),
       g % 3 <> 0
FROM generate_series(1, 10000) AS g;

ANALYZE bookstore.authors;
ANALYZE bookstore.books;
INSERT INTO bookstore.page_views SELECT '978' || lpad((1 + g % 10000)::text, 10, '0'), now() FROM generate_series(1, 100) AS g;
