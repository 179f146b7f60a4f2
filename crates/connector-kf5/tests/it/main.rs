//! Integration tests of the kf5 connector.
