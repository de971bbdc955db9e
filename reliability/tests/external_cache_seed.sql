-- Makes the template of the external-cache bad-input row its own: no other test (of any crate
-- sharing the run's server under `cargo nextest run --workspace`) has a template of this content.
CREATE TABLE external_cache_row (id integer);
