//! Listing the tables to clean from the catalog.
