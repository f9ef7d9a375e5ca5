//! The GoldFish node (built in issue #3).
