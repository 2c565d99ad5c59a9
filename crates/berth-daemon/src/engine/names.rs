//! Generated container names (`adjective_noun`), for containers created without `--name`.

const ADJECTIVES: &[&str] = &[
    "agile", "bold", "brave", "bright", "calm", "clever", "cosy", "crisp", "daring", "eager", "fair", "fancy", "gentle", "glad", "happy", "hardy", "humble",
    "jolly", "keen", "kind", "lively", "lucid", "merry", "mighty", "modest", "nimble", "noble", "patient", "plucky", "proud", "quick", "quiet", "rapid",
    "ready", "serene", "sharp", "shiny", "silent", "sleek", "snappy", "steady", "sturdy", "sunny", "swift", "tidy", "upbeat", "vivid", "warm", "wise", "witty",
];

const NOUNS: &[&str] = &[
    "anchor", "beacon", "bollard", "bosun", "breeze", "buoy", "cabin", "canal", "capstan", "cargo", "compass", "coral", "cove", "current", "dinghy", "dock",
    "dory", "ferry", "fjord", "galley", "gull", "harbor", "helm", "hull", "island", "jetty", "keel", "lagoon", "lantern", "mast", "mooring", "oar", "otter",
    "pier", "pilot", "quay", "reef", "rudder", "sail", "schooner", "shoal", "skiff", "sloop", "spar", "tide", "tugboat", "voyage", "wake", "wharf", "yawl",
];

/// A random name; `attempt` > 0 appends a digit, as Docker does after a collision.
pub fn generate(attempt: u32) -> String {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    let name = format!("{}_{}", ADJECTIVES[b[0] as usize % ADJECTIVES.len()], NOUNS[b[1] as usize % NOUNS.len()]);
    if attempt == 0 {
        name
    } else {
        format!("{name}{attempt}")
    }
}

/// Whether a user-given name is valid (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid(name: &str) -> bool {
    name.len() >= 2
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}
