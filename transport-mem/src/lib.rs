//! In-process transport for GoldFish nodes (built in issue #3).
