//! The bangwo8 connector (being built).
