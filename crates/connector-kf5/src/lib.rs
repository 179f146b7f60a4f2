//! The kf5 connector (being built).
