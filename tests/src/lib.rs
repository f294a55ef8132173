//! Shared helpers for the cross-crate and live interop tests in `tests/tests/`.
