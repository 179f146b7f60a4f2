//! The caresoft connector (being built).
