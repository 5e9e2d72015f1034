-- The temporal-schema job (temporal-sql-tool create) creates Temporal's databases (temporal, temporal_visibility) as this user.
ALTER USER app CREATEDB;
