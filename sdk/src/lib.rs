//! The GoldFish guest SDK (built in issue #3).
#![no_std]
