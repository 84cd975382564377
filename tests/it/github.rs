//! The review comment upsert against a real HTTP server on loopback.
