//! End-to-end tests of the API: the real server on an ephemeral port, spoken to over HTTP, on
//! SQLite by default and on PostgreSQL when `PASSERELLE_TEST_POSTGRES_URL` is set.
mod access;
mod applications;
mod bad_input;
mod concurrency;
mod credentials;
mod diffusion;
mod federation;
mod fuzz;
mod helpers;
mod http;
mod imports;
mod inline;
mod limits;
mod mission_push;
mod mission_writes;
mod missions;
mod oracle;
mod persisted;
mod plans;
mod ratelimits;
mod reads;
mod relations;
mod responses;
mod rows;
