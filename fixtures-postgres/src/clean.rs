//! Cleaning a shared database between tests.
