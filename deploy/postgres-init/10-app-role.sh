#!/bin/sh
# First start of the compose PostgreSQL: the role the platform connects as.
# It owns nothing, cannot run DDL and is subject to row-level security;
# `kyodo db upgrade` (the migrate service) grants it what it needs.
set -eu
password=$(cat /run/secrets/db_app_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$password" <<'SQL'
CREATE ROLE kyodo_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'app_password';
SQL
