-- Typical analyst queries against the warehouse star schema (DuckDB, PostgreSQL and Redshift).
-- Run: duckdb covid.duckdb < config/test_queries.sql   or   psql "$URL" -f config/test_queries.sql

-- 1. Latest figures per country, most cases first.
SELECT country, report_date, confirmed, deaths, new_confirmed, new_deaths, case_fatality_rate, incidence_per_100k
FROM v_latest_by_country
ORDER BY confirmed DESC, country
LIMIT 20;

-- 2. 7-day averages of new cases and deaths for the ten countries with the most cases, on their latest date.
SELECT a.country, a.report_date, a.new_confirmed_7day_avg, a.new_deaths_7day_avg
FROM v_7day_avg a
JOIN v_latest_by_country l ON l.country = a.country AND l.report_date = a.report_date
ORDER BY l.confirmed DESC, a.country
LIMIT 10;

-- 3. One month of one country, day by day (Italy, March 2020).
SELECT d.date, SUM(f.confirmed) AS confirmed, SUM(f.deaths) AS deaths, SUM(f.new_confirmed) AS new_confirmed
FROM fact_covid_daily f
JOIN dim_location l ON l.location_key = f.location_key
JOIN dim_date d ON d.date_key = f.date_key
WHERE l.country = 'Italy' AND d.year = 2020 AND d.month = 3
GROUP BY d.date
ORDER BY d.date;

-- 4. Weekly new cases per country (ISO weeks) for 2020.
SELECT l.country, d.year, d.week, SUM(f.new_confirmed) AS new_confirmed
FROM fact_covid_daily f
JOIN dim_location l ON l.location_key = f.location_key
JOIN dim_date d ON d.date_key = f.date_key
WHERE d.year = 2020
GROUP BY l.country, d.year, d.week
ORDER BY l.country, d.year, d.week;

-- 5. What was loaded, and when.
SELECT partition_key, row_count, object_count, loaded_at
FROM warehouse_load_state
ORDER BY partition_key;
