//! Requests per second the simulator serves with no latency.

fn main() {}
